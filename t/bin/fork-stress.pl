#!/usr/bin/perl
# Fork-safety stress run for mod_ocsp_prefetch (issue 3, item 4).
#
#   t/bin/fork-stress.pl [--seconds 180] [--clients 4] [--certs 12]
#                        [--mode big+short|short] [--bound 5] [--stuck 5]
#                        [--min-spare 2] [--max-spare 8] [--module PATH]
#                        [--responder-port P] [--name DIR] [--cgi N] [--quiet]
#
# A private httpd with the prefork MPM and `MaxConnectionsPerChild 1`, so that
# the parent forks one child per connection, while its prefetch thread is kept
# busy: every certificate's responder answers with 60-second responses
# (`big+short`: ~2.6 KB with four extra certificates, so each validation does
# more OpenSSL work: more chances for a fork to land while the thread holds
# an OpenSSL lock; `--mode short` for plain ones) and
# `OCSPPrefetchRenewWindow 59s` + `OCSPPrefetchRetryDelay 1s` make it fetch
# each of them again about every second.  N client processes
# make TLS handshakes (status_request) without pause.  A child that inherits a
# lock held by the prefetch thread at fork() hangs for ever; this run detects
# it three ways:
#   - per handshake: each must complete within --bound seconds (hard alarm);
#   - by sampling every child of the parent twice a second: a child that stays
#     blocked anywhere but in accept() (kernel wchan inet_csk_accept) for more
#     than --stuck seconds is hung (its wchan and syscall are reported);
#     the parent's main thread blocked in a futex for that long is hung too;
#   - at the end, with the clients stopped: every remaining child must be back
#     in accept().
# Also: no crashed child (error log: "exit signal", "Segmentation", AH00052),
# and the thread kept fetching (responder log lines in every third of the run).
# --cgi N (issue 12): mod_cgi is loaded too and N more client processes
# request, over HTTPS and without pause, a CGI script that forks a child of
# its own and prints its output: httpd's children fork (mod_cgi forks the
# script from the worker child) while the parent forks them and the thread
# fetches.  Each request must answer within --bound seconds with the
# script's output (a child whose fork() blocks for ever in an inherited
# atfork handler fails it).  Summary: cgi_requests, cgi_failed, cgi_slow.
# Everything is on 127.0.0.1; every wait is bounded.  Prints a summary (lines
# "summary KEY VALUE" for t/fork/21_fork_stress.t), exits 0 on PASS, 1 on FAIL,
# 2 when it could not run.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Getopt::Long;
use POSIX qw(:sys_wait_h _exit);
use Time::HiRes qw(time sleep alarm);
use OCSPTest qw(free_port pki_dir module_so slurp alive wait_until log_since);
use OCSPTest::Responder;
use OCSPTest::Httpd;
use IO::Socket::INET;
use Socket qw(SOL_SOCKET SO_RCVTIMEO SO_SNDTIMEO);
use Net::SSLeay;

$| = 1;
my %o = (seconds => 180, clients => 4, certs => 12, bound => 5, stuck => 5,
         name => 'forkstress', 'min-spare' => 2, 'max-spare' => 8, mode => 'big+short',
         cgi => 0);
GetOptions(\%o, 'seconds=i', 'clients=i', 'certs=i', 'bound=f', 'stuck=f',
           'min-spare=i', 'max-spare=i', 'mode=s', 'cgi=i',
           'module=s', 'responder-port=i', 'name=s', 'quiet', 'help')
    or exit 2;
if ($o{help}) { print "see the head of $0\n"; exit 0 }
$ENV{OCSP_PREFETCH_SO} = $o{module} if $o{module};
die "fork-stress: module " . module_so() . " not found (build first)\n"
    unless -f module_so();
die "fork-stress: --seconds must be 10..3600\n" if $o{seconds} < 10 || $o{seconds} > 3600;
die "fork-stress: --cgi must be 0..16\n" if $o{cgi} < 0 || $o{cgi} > 16;
my $MODDIR = $OCSPTest::Httpd::MODDIR;
die "fork-stress: --cgi needs $MODDIR/mod_cgi.so and mod_alias.so\n"
    if $o{cgi} && !(-f "$MODDIR/mod_cgi.so" && -f "$MODDIR/mod_alias.so");

sub say_ { print "fork-stress: @_\n" }

# Leaves that exist in every version of the test PKI; the responder URL is
# configured explicitly, so the leaf's own AIA (and its test role) is unused.
my @leaves = grep { -f pki_dir() . "/leaves/$_.pem" }
             qw(good short delay graceful startup stapling timeout mutex
                post get errs dflt);
die "fork-stress: test PKI not found in " . pki_dir() . "\n" unless @leaves;
@leaves = @leaves[0 .. $o{certs} - 1] if @leaves > $o{certs};

# --- responder: a private one unless told to use a running one --------------
my $work = OCSPTest::work_dir();
my ($responder, $rport, $rlog);
if ($o{'responder-port'}) {
    $rport = $o{'responder-port'};
    $rlog = $ENV{OCSPT_RESPONDER_LOG} || OCSPTest::responder_log();
}
else {
    $rport = free_port();
    $rlog = "$work/forkstress-responder.log";
    unlink $rlog;
    $responder = OCSPTest::Responder->start(port => $rport, log => $rlog,
                                            lifetime => $o{seconds} + 120);
}
my $roff = -s $rlog || 0;

# --- httpd: prefork, one child per connection, all vhosts on one port -------
# One listener: prefork children then wait in accept() itself (no accept
# mutex), so a child blocked in a futex is unambiguous.
my $port = free_port();
die "fork-stress: --mode must be short or big+short (60-second responses)\n"
    unless $o{mode} =~ /^(?:short|big\+short)$/;
my $url = "http://127.0.0.1:$rport/$o{mode}/";
my @vhosts = map { { name => $_, port => $port,
                     conf => "OCSPPrefetch on\nOCSPPrefetchResponder $url\n" } } @leaves;
# --cgi: the script, in ROOT/cgi-bin (ScriptAlias of the main server,
# inherited by every vhost); readable and executable by the User
my $root = "$work/servers/$o{name}";
my $cgi_conf = '';
if ($o{cgi}) {
    $cgi_conf = "LoadModule cgi_module $MODDIR/mod_cgi.so\n"
              . "LoadModule alias_module $MODDIR/mod_alias.so\n"
              . "ScriptAlias /cgi-bin/ \"$root/cgi-bin/\"\n";
}
my $h = OCSPTest::Httpd->new(name => $o{name}, mpm => 'prefork', vhosts => \@vhosts,
    global => $cgi_conf . <<"EOC");
StartServers $o{'min-spare'}
MinSpareServers $o{'min-spare'}
MaxSpareServers $o{'max-spare'}
ServerLimit 64
MaxRequestWorkers 64
MaxConnectionsPerChild 1
OCSPPrefetchRenewWindow 59s
OCSPPrefetchRetryDelay 1s
OCSPPrefetchTimeout 5
OCSPPrefetchStartupWait 10
EOC
if ($o{cgi}) {
    mkdir "$root/cgi-bin";
    chmod 0755, "$root/cgi-bin";
    open my $fh, '>', "$root/cgi-bin/fork.cgi" or die "fork-stress: $root/cgi-bin/fork.cgi: $!\n";
    print $fh <<'EOS';
#!/bin/sh
out=$(/bin/sh -c 'echo "forked-child-ok-$$"')
printf 'Content-Type: text/plain\r\n\r\n'
printf 'cgi-ok %s parent %s\n' "$out" "$$"
EOS
    close $fh;
    chmod 0755, "$root/cgi-bin/fork.cgi";
}
my $up = eval { $h->start(timeout => 30) };
unless (defined $up) {
    print STDERR "fork-stress: httpd did not start: $@";
    exit 2;
}
my $ppid = $h->pid;
say_(sprintf("httpd %d up in %.2f s (prefork, MaxConnectionsPerChild 1), %d certificates "
     . "(%s), responder 127.0.0.1:%d /$o{mode}/, %d clients, %d CGI clients, %d s", $ppid, $up,
     scalar @leaves, join(',', @leaves), $rport, $o{clients}, $o{cgi}, $o{seconds}));

# --- clients ----------------------------------------------------------------
# Net::SSLeay with one context per client process: a handshake costs a few
# ms of client CPU (IO::Socket::SSL builds a context per connection, ~80 ms),
# so the clients do not starve the server of CPU.  status_request is sent;
# the status callback records whether a staple came back.
my ($CTX, $STAPLE);
sub client_init {
    Net::SSLeay::initialize();
    $CTX = Net::SSLeay::CTX_new() or die "CTX_new failed\n";
    Net::SSLeay::CTX_set_verify($CTX, 0);
    Net::SSLeay::CTX_set_tlsext_status_cb($CTX, sub {
        my ($ssl, $resp) = @_;
        $STAPLE = $resp ? 1 : 0;
        1 });
}
# one handshake: { ok, der (1 if stapled), error }
sub handshake {
    my ($sni, $bound) = @_;
    undef $STAPLE;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                  Proto => 'tcp', Timeout => $bound)
        or return { ok => 0, error => "connect: $!" };
    my $tv = pack('l!l!', int($bound), int(($bound - int $bound) * 1e6));
    setsockopt($s, SOL_SOCKET, SO_RCVTIMEO, $tv);
    setsockopt($s, SOL_SOCKET, SO_SNDTIMEO, $tv);
    my $ssl = Net::SSLeay::new($CTX);
    Net::SSLeay::set_fd($ssl, fileno($s));
    Net::SSLeay::set_tlsext_host_name($ssl, $sni);
    Net::SSLeay::set_tlsext_status_type($ssl, Net::SSLeay::TLSEXT_STATUSTYPE_ocsp());
    my $t0 = time;
    my $r = Net::SSLeay::connect($ssl);
    my $err = $r == 1 ? undef
            : time - $t0 >= $bound * 0.95 ? "handshake: no answer within $bound s"
            : "handshake: " . (Net::SSLeay::ERR_error_string(Net::SSLeay::ERR_get_error()) || $! || 'failed');
    Net::SSLeay::shutdown($ssl) if $r == 1;
    Net::SSLeay::free($ssl);
    close $s;
    return { ok => $r == 1 ? 1 : 0, der => $STAPLE ? 1 : undef, error => $err };
}

# one HTTPS request for the CGI script: { ok, error } (ok: 200 and the
# output of the script's forked child)
sub cgi_request {
    my ($sni, $bound) = @_;
    my $t0 = time;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                  Proto => 'tcp', Timeout => $bound)
        or return { ok => 0, error => "connect: $!" };
    my $tv = pack('l!l!', int($bound), int(($bound - int $bound) * 1e6));
    setsockopt($s, SOL_SOCKET, SO_RCVTIMEO, $tv);
    setsockopt($s, SOL_SOCKET, SO_SNDTIMEO, $tv);
    my $ssl = Net::SSLeay::new($CTX);
    Net::SSLeay::set_fd($ssl, fileno($s));
    Net::SSLeay::set_tlsext_host_name($ssl, $sni);
    my ($err, $resp) = (undef, '');
    if (Net::SSLeay::connect($ssl) != 1) {
        $err = time - $t0 >= $bound * 0.95 ? "handshake: no answer within $bound s" : "handshake failed";
    }
    else {
        Net::SSLeay::write($ssl, "GET /cgi-bin/fork.cgi HTTP/1.0\r\nHost: $sni\r\n\r\n");
        while (length $resp < 65536) {
            my $b = Net::SSLeay::read($ssl);
            last unless defined $b && length $b;
            $resp .= $b;
        }
        if ($resp !~ m{^HTTP/1\.\d 200 }) {
            $err = time - $t0 >= $bound * 0.95 ? "no answer within $bound s"
                 : "answer: " . (length $resp ? (split /\r?\n/, $resp)[0] : 'none');
        }
        elsif ($resp !~ /^cgi-ok forked-child-ok-(\d+) parent (\d+)$/m || $1 == $2) {
            $err = "unexpected body";
        }
        Net::SSLeay::shutdown($ssl);
    }
    Net::SSLeay::free($ssl);
    close $s;
    return { ok => $err ? 0 : 1, error => $err };
}

my $t_start = time;
my $t_end = $t_start + $o{seconds};
my @kids;
# One request under a hard alarm (a hung child must not hang the client):
# its result hash, or { ok => 0, error => ... } when it timed out or died.
sub bounded {
    my $code = shift;
    my $g = eval {
        local $SIG{ALRM} = sub { die "alarm\n" };
        alarm($o{bound} + 1);
        my $r = $code->();
        alarm(0);
        $r;
    };
    alarm(0);
    return $g || { ok => 0, error => ($@ =~ /alarm/ ? "hard timeout" : "died: $@") };
}
for my $i (0 .. $o{clients} - 1) {
    my $f = "$work/forkstress-client-$i.log";
    unlink $f;
    my $pid = fork;
    die "fork: $!" unless defined $pid;
    if ($pid == 0) {
        open my $out, '>', $f or _exit(3);
        select((select($out), $| = 1)[0]);
        my $n = $i;
        client_init();
        while (time < $t_end) {
            my $l = $leaves[$n++ % @leaves];
            my $t0 = time;
            my $g = bounded(sub { handshake("$l.test", $o{bound}) });
            my $dt = time - $t0;
            (my $err = $g->{error} // '') =~ s/\s+/_/g;
            # time ok stapled seconds leaf error
            printf $out "%.3f %d %d %.3f %s %s\n", $t0, $g->{ok} ? 1 : 0,
                defined $g->{der} ? 1 : 0, $dt, $l, $err || '-';
        }
        close $out;
        _exit(0);
    }
    push @kids, [ $pid, $f ];
}
my @cgi_kids;
for my $i (0 .. $o{cgi} - 1) {
    my $f = "$work/forkstress-cgi-$i.log";
    unlink $f;
    my $pid = fork;
    die "fork: $!" unless defined $pid;
    if ($pid == 0) {
        open my $out, '>', $f or _exit(3);
        select((select($out), $| = 1)[0]);
        client_init();
        while (time < $t_end) {
            my $t0 = time;
            my $g = bounded(sub { cgi_request("$leaves[0].test", $o{bound}) });
            my $dt = time - $t0;
            (my $err = $g->{error} // '') =~ s/\s+/_/g;
            # time ok seconds error
            printf $out "%.3f %d %.3f %s\n", $t0, $g->{ok} ? 1 : 0, $dt, $err || '-';
        }
        close $out;
        _exit(0);
    }
    push @cgi_kids, [ $pid, $f ];
}

sub cgi_records {
    my @r;
    for my $k (@cgi_kids) {
        for (split /\n/, slurp($k->[1]) // '') {
            my @f = split ' ';
            push @r, { t => $f[0], ok => $f[1], dt => $f[2], err => $f[3] } if @f >= 4;
        }
    }
    @r;
}

sub client_records {
    my @r;
    for my $k (@kids) {
        for (split /\n/, slurp($k->[1]) // '') {
            my @f = split ' ';
            push @r, { t => $f[0], ok => $f[1], stapled => $f[2], dt => $f[3],
                       leaf => $f[4], err => $f[5] } if @f >= 6;
        }
    }
    @r;
}

# --- monitor ----------------------------------------------------------------
my (%seen, %hung, @hung_report);
my ($parent_futex_since, $parent_hung) = (undef, 0);
my ($max_children, $forked, $samples) = (0, 0, 0);
my $next_progress = $t_start + 10;

sub wchan { my $w = slurp("/proc/$_[0]/wchan") // '?'; $w =~ s/\s+//g; $w || '0' }
sub sysnr { my $s = slurp("/proc/$_[0]/syscall") // '?'; ($s =~ /^(\S+)/)[0] // '?' }
sub pstate { my $s = slurp("/proc/$_[0]/stat") // return '?'; $s =~ /^\d+ \(.*\) (\S)/s ? $1 : '?' }

# user-space stack of a hung process, when gdb is there (bounded: 20 s)
my $backtraces = 0;
sub backtrace {
    my ($pid) = @_;
    return if $backtraces++ >= 3 || !-x '/usr/bin/gdb';
    my @bt = grep { /^#\d/ } `timeout 20 /usr/bin/gdb -p $pid -batch -nx -ex 'bt 25' 2>/dev/null`;
    s/\s+$// for @bt;
    say_("backtrace of $pid:\n    " . join("\n    ", @bt)) if @bt;
}

# httpd's children only: the module's helper processes (the privsep
# helper, exec'd, and the resolver) idle in a read by design
sub httpd_children {
    grep { (readlink("/proc/$_/exe") // '') !~ m{/ocsp-prefetch-helper$}
           && (slurp("/proc/$_/comm") // '') !~ /^opf-resolver/ } $h->children;
}

sub sample {
    my $now = time;
    $samples++;
    my @c = httpd_children();
    $max_children = @c if @c > $max_children;
    my %now = map { $_ => 1 } @c;
    for my $c (@c) {
        my $s = $seen{$c} ||= do { $forked++; +{ first => $now } };
        my ($w, $st) = (wchan($c), pstate($c));
        # accept(): idle, healthy.  R: running.  Anything else is a wait
        # that must end quickly (a handshake is bounded by --bound).
        if ($w eq 'inet_csk_accept' || $st eq 'R' || $st eq 'Z') {
            delete $s->{blocked};
        }
        else {
            $s->{blocked} //= $now;
            $s->{what} = "$st wchan=$w syscall=" . sysnr($c);
            if ($now - $s->{blocked} > $o{stuck} && !$hung{$c}++) {
                push @hung_report, sprintf("child %d blocked %.1f s (%s), age %.1f s",
                    $c, $now - $s->{blocked}, $s->{what}, $now - $s->{first});
                say_("HUNG $hung_report[-1]");
                backtrace($c);
            }
        }
    }
    delete $seen{$_} for grep { !$now{$_} } keys %seen;
    # the parent's main thread: sleeping/waiting for children is fine, a
    # futex wait (fork gate, a lock) that lasts is not.
    my $w = wchan("$ppid/task/$ppid");
    my $nr = sysnr("$ppid/task/$ppid");
    if ($w =~ /futex/ || $nr eq '202') {
        $parent_futex_since //= $now;
        if ($now - $parent_futex_since > $o{stuck} && !$parent_hung++) {
            push @hung_report, sprintf("parent %d main thread in a futex wait for %.1f s",
                                       $ppid, $now - $parent_futex_since);
            say_("HUNG $hung_report[-1]");
        }
    }
    else { undef $parent_futex_since }
}

while (time < $t_end) {
    last unless alive($ppid);
    sample();
    if (!$o{quiet} && time >= $next_progress) {
        my @r = client_records();
        my $ok = grep { $_->{ok} } @r;
        my @c = cgi_records();
        my $cok = grep { $_->{ok} } @c;
        say_(sprintf("t=%3d s: %d handshakes (%d failed), %s children now %d, fetches %d",
             time - $t_start, scalar @r, @r - $ok,
             $o{cgi} ? sprintf("%d CGI requests (%d failed), ", scalar @c, @c - $cok) : '',
             scalar($h->children),
             OCSPTest::count_requests(log => $rlog, off => $roff, mode => $o{mode})));
        $next_progress += 10;
    }
    sleep 0.5;
}

# clients end by themselves at $t_end (+ one bounded handshake)
my @all_kids = (@kids, @cgi_kids);
my $kids_done = wait_until($o{bound} + 5, sub {
    for (@all_kids) { waitpid($_->[0], WNOHANG) == $_->[0] and $_->[2] = 1 }
    !grep { !$_->[2] } @all_kids }, 0.1);
unless ($kids_done) { kill 'KILL', map { $_->[0] } grep { !$_->[2] } @all_kids; waitpid($_->[0], 0) for @all_kids }
my $run = time - $t_start;

# Quiet now: every child must go back to accept() within a bounded time.
my @not_idle;
my $parent_alive = alive($ppid);
if ($parent_alive) {
    wait_until($o{stuck}, sub {
        sample();
        @not_idle = grep { my $w = wchan($_); $w ne 'inet_csk_accept' && pstate($_) ne 'Z' } httpd_children();
        !@not_idle }, 0.25);
    for my $c (@not_idle) {
        push @hung_report, sprintf("child %d not back in accept() after the load (%s wchan=%s syscall=%s)",
                                   $c, pstate($c), wchan($c), sysnr($c));
        say_("HUNG $hung_report[-1]");
    }
}

# --- results ----------------------------------------------------------------
my @r = client_records();
my @ok = grep { $_->{ok} } @r;
my @failed = grep { !$_->{ok} } @r;
my @slow = grep { $_->{dt} > $o{bound} } @r;
my @nostaple = grep { $_->{ok} && !$_->{stapled} } @r;
my @lat = sort { $a <=> $b } map { $_->{dt} } @r;
my @cgi = cgi_records();
my @cgi_failed = grep { !$_->{ok} } @cgi;
my @cgi_slow = grep { $_->{dt} > $o{bound} } @cgi;
my $p = sub { @lat ? $lat[int($_[0] * $#lat)] : 0 };

# responder activity in each third of the run
my @req = OCSPTest::responder_requests(log => $rlog, off => $roff, mode => $o{mode});
my @thirds = (0, 0, 0);
for (@req) {
    my $i = int(($_->{time} - $t_start) * 3 / $o{seconds});
    $thirds[$i]++ if $i >= 0 && $i < 3;
}
my $ok200 = grep { $_->{status} eq '200' } @req;

# a stop timed while prefork is still starting children would time an httpd
# race (see wait_quiet), not this module
$h->wait_quiet(15) if $parent_alive;
my $stop_t0 = time;
my $stopped = $parent_alive ? $h->stop : 0;
my $stop_took = time - $stop_t0;
my $elog = log_since($h->error_log, 0);
my @crash = grep { /exit signal|Segmentation|AH00052|AH00050|still did not exit/ } split /\n/, $elog;
my $stored = () = $elog =~ /stored OCSP response/g;
my $fetchfail = () = $elog =~ /OCSP fetch failed|rejected OCSP response/g;
$responder->stop if $responder;

my @fail;
push @fail, "httpd parent died during the run" unless $parent_alive;
push @fail, scalar(@failed) . " handshakes failed" if @failed;
push @fail, scalar(@slow) . " handshakes took more than $o{bound} s" if @slow;
push @fail, scalar(@nostaple) . " handshakes without a staple" if @nostaple;
push @fail, scalar(@hung_report) . " hung process(es)" if @hung_report;
push @fail, scalar(@crash) . " crash line(s) in the error log" if @crash;
push @fail, "the prefetch thread did not keep fetching (responder requests per third: @thirds)"
    if grep { $_ < @leaves * $o{seconds} / 3 / 4 } @thirds;
push @fail, "no handshake was made" unless @r;
push @fail, scalar(@cgi_failed) . " CGI requests failed" if @cgi_failed;
push @fail, scalar(@cgi_slow) . " CGI requests took more than $o{bound} s" if @cgi_slow;
push @fail, "no CGI request was made" if $o{cgi} && !@cgi;
push @fail, "httpd did not stop" unless $stopped || !$parent_alive;

my $min_expected = int(@leaves * $o{seconds} / 3 / 4);
printf "summary seconds %.1f\n", $run;
printf "summary certificates %d\n", scalar @leaves;
printf "summary clients %d\n", $o{clients};
printf "summary handshakes %d\n", scalar @r;
printf "summary handshakes_ok %d\n", scalar @ok;
printf "summary handshakes_failed %d\n", scalar @failed;
printf "summary handshakes_slow %d\n", scalar @slow;
printf "summary handshakes_unstapled %d\n", scalar @nostaple;
printf "summary handshakes_per_s %.1f\n", $run ? @r / $run : 0;
printf "summary latency_p50 %.3f\n", $p->(0.5);
printf "summary latency_p99 %.3f\n", $p->(0.99);
printf "summary latency_max %.3f\n", @lat ? $lat[-1] : 0;
printf "summary cgi_clients %d\n", $o{cgi};
printf "summary cgi_requests %d\n", scalar @cgi;
printf "summary cgi_failed %d\n", scalar @cgi_failed;
printf "summary cgi_slow %d\n", scalar @cgi_slow;
printf "summary cgi_latency_max %.3f\n", @cgi ? (sort { $b <=> $a } map { $_->{dt} } @cgi)[0] : 0;
printf "summary children_sampled %d\n", $forked;
printf "summary children_max %d\n", $max_children;
printf "summary hung %d\n", scalar @hung_report;
printf "summary crashes %d\n", scalar @crash;
printf "summary fetches %d\n", scalar @req;
printf "summary fetches_200 %d\n", $ok200;
printf "summary fetches_thirds %s\n", join(',', @thirds);
printf "summary fetches_min_per_third %d\n", $min_expected;
printf "summary stored %d\n", $stored;
printf "summary fetch_failures %d\n", $fetchfail;
printf "summary stop_seconds %.2f\n", $stop_took;
for (@hung_report) { print "hung: $_\n" }
for (@crash[0 .. ($#crash < 9 ? $#crash : 9)]) { print "crash: $_\n" }
my %errs; $errs{$_->{err}}++ for @failed;
print "failure: $_ x$errs{$_}\n" for sort keys %errs;
my %cerrs; $cerrs{$_->{err}}++ for @cgi_failed;
print "cgi failure: $_ x$cerrs{$_}\n" for sort keys %cerrs;
print "summary result ", (@fail ? "FAIL" : "PASS"), "\n";
print "fail: $_\n" for @fail;
print "error log: " . $h->error_log . "\n";
exit(@fail ? 1 : 0);
