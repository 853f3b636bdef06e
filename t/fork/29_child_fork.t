# httpd's children may fork (issue 12): CGI scripts and SSI #exec work
# while the prefetch thread keeps refetching.  Before the fix, the module's
# pthread_atfork child handler "unlocked" a fork-gate rwlock the child did
# not own (a read unlock of a write-locked lock), so the child's next
# fork() blocked for ever: every CGI request and every <!--#exec --> hung.
# Three private servers, each with an SSL vhost (OCSPPrefetch on, /short/
# 60 s responses, OCSPPrefetchRenewWindow 59s + OCSPPrefetchRetryDelay 1s 2s:
# a refetch about every second) serving the CGI and SSI pages:
#   a. event MPM + mod_cgid (the CGI is forked by cgid's daemon, itself a
#      fork of the parent);
#   b. prefork MPM + mod_cgi (forked by the worker child);
#   c. prefork + mod_cgi, OCSPPrefetchPrivsep off (fetch sockets in the
#      parent), and six more vhosts whose responder is a loopback listener
#      of this test that accepts and never answers (OCSPPrefetchTimeout 30,
#      StartupWait 1: they connect before the first children are forked,
#      MaxConnectionsPerChild 10 forks more during the run): every child is
#      forked while six fetch sockets are open in the parent.  A child must not keep them,
#      and must not close their numbers again later either: APR's exec
#      cleanups of the parent's apr_socket_t objects run in every CGI
#      process before exec, and close whatever the child has reused those
#      numbers for (the CGI's stdin/stdout pipes: "End of script output
#      before headers", 500).
#   All with mod_include (<!--#exec cmd=... -->).
# For ~10 s (c: 5 s; at most 400 requests) the test requests, over HTTPS,
# alternately a CGI script that forks a child of its own and prints that
# child's output, and an .shtml page whose #exec echoes "ssi-ok-PID".
# Per server: >= 20 CGI and >= 20 SSI answers (c: 10), each with the
# expected body; every one within 1 s (a hung one is abandoned after 2 s,
# and after 3 failures the loop stops: no stalled suite); the staple
# (status_request) checked every 2 s is good and verifies; the responder was
# asked again during the run (the thread really was fetching while children
# forked); httpd stops and leaves no process behind (hung ones are killed).
use strict;
use warnings;
use FindBin; use lib "$FindBin::Bin/../lib";
use Apache::Test qw(-withtestmore);
use Time::HiRes qw(time sleep alarm);
use IO::Socket::INET;
use IO::Select;
use IO::Socket::SSL qw(SSL_VERIFY_NONE);
use OCSPTest qw(module_built wait_until responder_port leaf_serial count_requests
                log_size responder_log work_dir alive);
use OCSPTest::Httpd;
use OCSPTest::Client qw(get_staple verify_staple);

my $MODDIR = $OCSPTest::Httpd::MODDIR;
my @needed = map { "$MODDIR/$_.so" }
             qw(mod_cgi mod_cgid mod_include mod_mime mod_alias mod_mpm_prefork);

plan tests => 22, need { 'module not built (stand-in run)' => module_built(),
                         'mod_cgi/mod_cgid/mod_include/mod_mime/mod_alias not found'
                             => !grep { !-f } @needed };

my $rp = responder_port();
my $SECONDS = 10;          # run length per server
my $MAX_REQUESTS = 400;    # and a bound on the count
my $BOUND = 1;             # every answer within this many seconds
my $HARD = 2;              # a request is abandoned after this
my $MIN_EACH = 20;         # CGI and SSI answers each, at least

# GET $path over TLS (SNI), HTTP/1.0; everything bounded by $hard seconds.
# { ok => status 200 read to EOF, status, body, error, seconds }
sub https_get {
    my ($port, $sni, $path, $hard) = @_;
    my $t0 = time;
    my ($status, $body);
    my $ok = eval {
        local $SIG{ALRM} = sub { die "no answer within $hard s\n" };
        alarm $hard;
        my $s = IO::Socket::SSL->new(PeerHost => '127.0.0.1', PeerPort => $port,
                                     SSL_hostname => $sni, SSL_verify_mode => SSL_VERIFY_NONE,
                                     Timeout => $hard)
            or die "TLS connect: " . ($IO::Socket::SSL::SSL_ERROR || $!) . "\n";
        print $s "GET $path HTTP/1.0\r\nHost: $sni\r\n\r\n" or die "write: $!\n";
        my $resp = '';
        while (1) {
            my $n = sysread($s, my $buf, 16384);
            die "read: " . ($IO::Socket::SSL::SSL_ERROR || $!) . "\n" unless defined $n;
            last unless $n;
            $resp .= $buf;
            die "response too long\n" if length $resp > 65536;
        }
        alarm 0;
        close $s;
        ($status) = $resp =~ m{^HTTP/1\.\d (\d{3})};
        ($body) = $resp =~ /\r\n\r\n(.*)\z/s;
        1;
    };
    alarm 0;
    my $err = $ok ? undef : ($@ || 'failed');
    chomp $err if defined $err;
    $err //= "status " . ($status // 'none') unless ($status // 0) == 200;
    return { ok => !defined $err, status => $status, body => $body // '', error => $err,
             seconds => time - $t0 };
}

# the CGI script: forks a child (a subshell), waits for it, prints its output
my $CGI = <<'EOS';
#!/bin/sh
out=$(/bin/sh -c 'echo "forked-child-ok-$$"')
printf 'Content-Type: text/plain\r\n\r\n'
printf 'cgi-ok %s parent %s\n' "$out" "$$"
EOS
my $SHTML = qq{<html><body><!--#exec cmd="echo ssi-ok-\$\$" --></body></html>\n};

sub run_server {
    # label, name, mpm, leaf, modules and global (config text); optional:
    # hang => [leaves]: vhosts whose fetches never end; seconds, min_each
    my (%a) = @_;
    my ($label, $leaf) = @a{qw(label leaf)};
    my $seconds = $a{seconds} || $SECONDS;
    my $min_each = $a{min_each} || $MIN_EACH;
    my $root = work_dir() . "/servers/$a{name}";
    my ($silent, @accepted);
    my @hang_vhosts;
    if ($a{hang}) {
        $silent = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Proto => 'tcp',
                                        Listen => 32, ReuseAddr => 1) or die "listen: $!";
        my $sp = $silent->sockport;
        @hang_vhosts = map { { name => $_, conf => "OCSPPrefetch on\n"
                               . "OCSPPrefetchResponder http://127.0.0.1:$sp/never-answers/\n" } }
                       @{ $a{hang} };
    }
    my $h = OCSPTest::Httpd->new(name => $a{name}, mpm => $a{mpm},
        global => $a{modules} . ($a{global} // '') . <<"EOC",
TypesConfig /dev/null
OCSPPrefetchRenewWindow 59s
OCSPPrefetchRetryDelay 1s 2s
EOC
        vhosts => [ { name => $leaf, conf => <<"EOV" }, @hang_vhosts ]);
    OCSPPrefetch on
    OCSPPrefetchResponder http://127.0.0.1:$rp/short/
    ScriptAlias /cgi-bin/ "$root/cgi-bin/"
    <Directory "$root/htdocs">
        Options +Includes
        AddType text/html .shtml
        AddOutputFilter INCLUDES .shtml
    </Directory>
EOV
    # readable and executable by the User (nobody when root)
    mkdir "$root/cgi-bin";
    chmod 0755, "$root/cgi-bin", "$root/htdocs";
    for ([ "$root/cgi-bin/fork.cgi", $CGI, 0755 ], [ "$root/htdocs/exec.shtml", $SHTML, 0644 ]) {
        open my $fh, '>', $_->[0] or die "$_->[0]: $!";
        print $fh $_->[1];
        close $fh;
        chmod $_->[2], $_->[0];
    }

    my $up = eval { $h->start; 1 };
    my $err = $@;
    my $first = $up ? $h->staple($leaf, timeout => $HARD) : {};
    my $v0 = $first->{der} ? verify_staple($first->{der}, $leaf) : {};
    ok($up && $v0->{verify_ok} && ($v0->{status} // '') eq 'good',
       "$label: server up, first handshake stapled with a good response")
        or diag($err || $v0->{text} || $first->{error} || 'no staple');
    if ($silent) {
        # every fetch to the silent responder has connected: in flight
        my $sel = IO::Select->new($silent);
        wait_until(10, sub {
            while ($sel->can_read(0.05)) { my $c = $silent->accept or last; push @accepted, $c }
            @accepted >= @{ $a{hang} } }, 0.05);
        ok(@accepted >= @{ $a{hang} },
           "$label: " . scalar(@accepted) . " fetches hanging on the silent responder while children fork"
           . " (need " . scalar(@{ $a{hang} }) . ")");
    }

    my $port = $h->port($leaf);
    my $sni = "$leaf.test";
    my $roff = log_size(responder_log());
    my (%n, @fail, @slow, $max);
    my ($checks, @bad_staples) = (0);
    my $t0 = time;
    my $next_check = $t0;
    $max = 0;
    my $i = 0;
    while ($up && time - $t0 < $seconds) {
        if (@fail >= 3 || $i >= $MAX_REQUESTS) {
            # no more requests (they hang or fail): the staple checks go on
            # to the end of the run, at their pace
            my $pause = $next_check - time;
            sleep($pause) if $pause > 0;
        }
        else {
            my $kind = $i++ % 2 ? 'ssi' : 'cgi';
            my $r = https_get($port, $sni, $kind eq 'cgi' ? '/cgi-bin/fork.cgi' : '/exec.shtml', $HARD);
            $max = $r->{seconds} if $r->{seconds} > $max;
            my $good = $r->{ok} && ($kind eq 'cgi'
                ? ($r->{body} =~ /^cgi-ok forked-child-ok-(\d+) parent (\d+)$/m && $1 != $2)
                : $r->{body} =~ /ssi-ok-\d+/);
            if ($good) { $n{$kind}++ }
            else {
                $n{"${kind}_failed"}++;
                push @fail, sprintf("%s request %d: %s after %.2f s%s", $kind, $i, $r->{error} // 'unexpected body',
                                    $r->{seconds}, $r->{ok} ? ": '" . substr($r->{body}, 0, 120) . "'" : '');
            }
            push @slow, sprintf("%s request %d: %.2f s", $kind, $i, $r->{seconds})
                if $r->{seconds} > $BOUND;
        }
        if (time >= $next_check) {
            # the staple while children fork and the thread refetches
            $next_check = time + 2;
            $checks++;
            my $g = $h->staple($leaf, timeout => $HARD);
            my $v = $g->{der} ? verify_staple($g->{der}, $leaf) : undef;
            push @bad_staples, ($g->{ok} ? 'no staple' : "handshake failed: $g->{error}")
                unless $v;
            push @bad_staples, "bad/expired staple: $v->{text}"
                if $v && !($v->{verify_ok} && ($v->{status} // '') eq 'good'
                           && $v->{next_epoch} && $v->{next_epoch} > time);
        }
    }
    my $ran = time - $t0;
    my $fetches = count_requests(off => $roff, mode => 'short', serial => leaf_serial($leaf));

    ok(($n{cgi} // 0) >= $min_each && !$n{cgi_failed},
       sprintf("$label: CGI: %d requests answered with the output of the script's forked child, %d failed",
               $n{cgi} // 0, $n{cgi_failed} // 0))
        or diag(join "\n", @fail);
    ok(($n{ssi} // 0) >= $min_each && !$n{ssi_failed},
       sprintf("$label: SSI <!--#exec cmd -->: %d requests answered with 'ssi-ok', %d failed",
               $n{ssi} // 0, $n{ssi_failed} // 0));
    ok($up && !@slow && !@fail,
       sprintf("$label: every request answered within $BOUND s (slowest %.2f s, %d requests in %.1f s)",
               $max, $i, $ran))
        or diag(join "\n", @slow[0 .. ($#slow < 9 ? $#slow : 9)]);
    ok($checks >= 3 && !@bad_staples,
       "$label: the staple was there, good and verifying at each of $checks checks during the run")
        or diag(join "\n", @bad_staples);
    ok($fetches >= 3, "$label: the prefetch thread kept refetching: $fetches responder requests during the run");

    # Stop.  A child hung in fork() (or cgid's daemon) would make the
    # stop wait: kill them first when requests failed.
    my $ppid = $h->pid;
    my @procs = $ppid ? $h->children : ();
    kill 'KILL', @procs if @fail && @procs;
    my $stopped = $ppid ? $h->stop : 0;
    my @left = grep { alive($_) } @procs;
    kill 'KILL', @left if @left;
    ok($up && $stopped && !@left, "$label: httpd stopped, no process of it left"
                               . (@left ? " (killed: @left)" : ''))
        or diag($h->log_tail);
    close $_ for @accepted;
    close $silent if $silent;
}

run_server(label => 'event + mod_cgid', name => 'childfork-event', mpm => 'event',
           leaf => 'graceful', modules => <<"EOM");
LoadModule cgid_module $MODDIR/mod_cgid.so
LoadModule include_module $MODDIR/mod_include.so
LoadModule mime_module $MODDIR/mod_mime.so
LoadModule alias_module $MODDIR/mod_alias.so
ScriptSock "${\ work_dir()}/servers/childfork-event/logs/cgid.sock"
EOM

run_server(label => 'prefork + mod_cgi', name => 'childfork-prefork', mpm => 'prefork',
           leaf => 'startup', modules => <<"EOM");
LoadModule cgi_module $MODDIR/mod_cgi.so
LoadModule include_module $MODDIR/mod_include.so
LoadModule mime_module $MODDIR/mod_mime.so
LoadModule alias_module $MODDIR/mod_alias.so
EOM

run_server(label => 'prefork + mod_cgi, fetches in flight in the parent', name => 'childfork-inflight',
           mpm => 'prefork', leaf => 'store1', seconds => 5, min_each => 10,
           hang => [qw(errs post get mutex timeout delay)], modules => <<"EOM", global => <<"EOG");
LoadModule cgi_module $MODDIR/mod_cgi.so
LoadModule include_module $MODDIR/mod_include.so
LoadModule mime_module $MODDIR/mod_mime.so
LoadModule alias_module $MODDIR/mod_alias.so
EOM
StartServers 8
MinSpareServers 8
MaxSpareServers 16
MaxConnectionsPerChild 10
OCSPPrefetchPrivsep off
OCSPPrefetchTimeout 30
OCSPPrefetchStartupWait 1
EOG
