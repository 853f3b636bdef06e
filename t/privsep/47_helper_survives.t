# The privilege separation helper survives restarts (issue 13 item 6): with
# its configuration unchanged (program, OCSPPrefetchHelperUser), a graceful
# restart (twice) and a restart (SIGHUP) keep the same helper process, and
# staples keep being served and renewed (/short/ responses, valid 60 s).
# The next generation tells it only what changed: after a graceful restart
# that adds a vhost with a new certificate and removes one, the log says
# the kept helper was told of 1 new certificate and 1 removed, the new one
# is fetched (by the helper) and stapled, the removed one is no longer
# fetched while the other one is renewed. A kill -9 of the kept helper after
# a graceful restart is detected and it is replaced; with another helper
# program the helper is not kept (a new PID, and the log says why); after
# `-k stop` no helper process remains. The kept helper's channel is held
# by the parent and by none of the new generation's children (which would
# keep the helper from seeing EOF, and give code running as User a line to
# it).
use strict;
use warnings;
use FindBin; use lib "$FindBin::Bin/../lib";
use Apache::Test qw(-withtestmore);
use Cwd qw(abs_path);
use File::Copy qw(copy);
use Time::HiRes qw(time sleep);
use OCSPTest qw(module_built wait_until responder_port alive helper_path
                work_dir responder_log responder_requests leaf_serial
                free_port);
use OCSPTest::Httpd;
use OCSPTest::Client qw(verify_staple);

plan tests => 26, need { 'module not built (stand-in run)' => module_built(),
                         'helper not built' => -x helper_path(),
                         'no /proc' => -d "/proc/$$" };

my $rp = responder_port();
my $helper = abs_path(helper_path());
# the same program under another path (a changed configuration)
my $other = work_dir() . '/ocsp-prefetch-helper-45';
unlink $other;
copy($helper, $other) && chmod(0755, $other) or BAIL_OUT("cannot copy the helper: $!");

# the parent's children whose executable is a helper: pids
sub helpers {
    my ($h) = @_;
    return grep { my $e = readlink("/proc/$_/exe") // ''; $e eq $helper || $e eq $other }
           $h->children;
}

# a good, valid staple on vhost $name (checked against its leaf)
sub staple_ok {
    my ($h, $name) = @_;
    my $g = $h->staple($name);
    return undef unless $g->{ok} && defined $g->{der};
    my $v = verify_staple($g->{der}, $h->vhost($name)->{leaf});
    return ($v->{verify_ok} && ($v->{status} // '') eq 'good') ? $v : undef;
}

# Waits (bounded) for a staple of /short/ with thisUpdate after $t.
sub renewed_after {
    my ($h, $t, $within) = @_;
    return wait_until($within, sub {
        my $s = staple_ok($h, 'short');
        $s && $s->{this_epoch} && $s->{this_epoch} > $t + 1;
    }, 0.5);
}

# The inode of the parent's end of the helper's channel: the peer of the
# helper's fd 3 (ss -x), or undef.
sub channel_inode {
    my ($pid) = @_;
    my ($mine) = (readlink("/proc/$pid/fd/3") // '') =~ /^socket:\[(\d+)\]$/ or return undef;
    for (`ss -x -a 2>/dev/null`) {
        my @f = split ' ';
        return $f[7] if @f >= 8 && $f[5] eq $mine;
    }
    return undef;
}

# PIDs among @pids holding socket inode $ino.
sub holders {
    my ($ino, @pids) = @_;
    my @r;
    for my $pid (@pids) {
        opendir(my $d, "/proc/$pid/fd") or next;
        push @r, $pid if grep { (readlink("/proc/$pid/fd/$_") // '') eq "socket:[$ino]" } readdir $d;
    }
    return @r;
}

# SIGHUP (a restart, not graceful): waits for the next generation.
sub hup {
    my ($h) = @_;
    my $before = $h->generation_count;
    kill 'HUP', $h->pid;
    return wait_until(30, sub { $h->generation_count > $before }, 0.05)
        && wait_until(30, sub { $h->staple('short')->{ok} }, 0.05);
}

my %short = (name => 'short', leaf => 'short',
             conf => "OCSPPrefetch on\nOCSPPrefetchResponder http://127.0.0.1:$rp/short/\n");
my %gone = (name => 'gone', leaf => 'store1',
            conf => "OCSPPrefetch on\nOCSPPrefetchResponder http://127.0.0.1:$rp/short/\n");
my %added = (name => 'added', leaf => 'store2', port => free_port(),
             servername => 'store2.test',
             conf => "OCSPPrefetch on\nOCSPPrefetchResponder http://127.0.0.1:$rp/good/\n");
my $global = "OCSPPrefetchRenewWindow 50s\nOCSPPrefetchRetryDelay 1s 2s\n"
           . "OCSPPrefetchStartupWait 5\n";

my $h = OCSPTest::Httpd->new(name => 'survive',
    global => "OCSPPrefetchPrivsep on \"$helper\"\n$global",
    vhosts => [ \%short, \%gone ]);
$h->start;

my @hp = helpers($h);
is(scalar @hp, 1, 'one helper process') or diag($h->log_tail);
my $pid = $hp[0] // 0;
ok(staple_ok($h, 'short') && staple_ok($h, 'gone'),
   'both certificates are stapled');

# --- unchanged configuration: kept --------------------------------------------
$h->graceful;
$h->graceful;
is(join(',', helpers($h)), $pid, 'two graceful restarts: the same helper process');
is(scalar $h->log_lines(qr/OCSPPrefetchPrivsep: helper process $pid \(.*\) kept from the previous generation/), 2,
   '... kept twice, as the log says') or diag($h->log_tail);
is(scalar $h->log_lines(qr/told the kept helper process $pid of 0 new certificates and 0 removed/), 2,
   '... and told of nothing new');
my $ino = channel_inode($pid);
ok($ino && holders($ino, $h->pid), "the parent holds the kept helper's channel (socket inode " . ($ino // '?') . ')');
my @kids = grep { $_ != $pid } $h->children;
my @leak = $ino ? holders($ino, @kids) : ();
ok(@kids && !@leak, '... none of the new generation\'s ' . scalar(@kids) . ' children does')
    or diag("held by: @leak");
ok(hup($h), 'a restart (SIGHUP) completes');
is(join(',', helpers($h)), $pid, '... with the same helper process');
ok(staple_ok($h, 'short') && staple_ok($h, 'gone'),
   '... and both certificates stapled');
my $t0 = time;
ok(renewed_after($h, $t0, 45), 'the staple is renewed by the kept helper');
my @lost = $h->log_lines(qr/has gone away|has not answered its heartbeat|cannot start the helper/);
is(scalar @lost, 0, 'no helper was lost on the way') or diag(join "\n", @lost);

# --- a vhost added, one removed: only that is told ----------------------------
$h->{vhosts} = [ \%short, \%added ];
$h->write_config;
$h->graceful;
is(join(',', helpers($h)), $pid, 'graceful restart with another vhost: the same helper process');
ok(scalar $h->log_lines(qr/told the kept helper process $pid of 1 new certificate and 1 removed/),
   '... told of 1 new certificate and 1 removed') or diag($h->log_tail);
my $added = wait_until(15, sub { staple_ok($h, 'added') }, 0.2);
ok($added, 'the new certificate is fetched and stapled');
ok(scalar $h->log_lines(qr/fetching OCSP response by \w+ from http:\/\/127\.0\.0\.1:$rp\/good\/.*\(in the helper process\)/),
   '... by the helper process');
# The removed one is no longer fetched while the other is renewed.
my $off = -s responder_log() || 0;
my $t1 = time;
ok(renewed_after($h, $t1, 45) && renewed_after($h, time, 45),
   'the remaining certificate is renewed (twice)');
is(scalar(responder_requests(off => $off, serial => leaf_serial('store1'))), 0,
   '... and the removed one is not fetched any more');

# --- kill -9 of the kept helper: replaced --------------------------------------
$h->graceful;
is(join(',', helpers($h)), $pid, 'after another graceful restart the helper is still kept');
kill 'KILL', $pid;
my @hp2;
ok(wait_until(15, sub { @hp2 = helpers($h); @hp2 == 1 && $hp2[0] != $pid }, 0.1),
   'a kill -9 of the kept helper is detected and it is replaced')
    or diag($h->log_tail);
ok(scalar $h->log_lines(qr/the helper process $pid has gone away/), '... and logged');
ok(renewed_after($h, time, 45), '... and staples are renewed again');

# --- another helper program: not kept -----------------------------------------
my $kept = $hp2[0] // 0;
$h->{global} = "OCSPPrefetchPrivsep on \"$other\"\n$global";
$h->write_config;
$h->graceful;
my @hp3 = helpers($h);
ok(@hp3 == 1 && $hp3[0] != $kept && (readlink("/proc/$hp3[0]/exe") // '') eq $other
   && wait_until(3, sub { !alive($kept) }, 0.02),
   'with another helper program, a new helper process runs it and the old one is gone')
    or diag(join ' ', @hp3);
ok(scalar $h->log_lines(qr/the helper process $kept ran \Q$helper\E .* this configuration wants \Q$other\E .*: stopping it, starting a new one/),
   '... and the log says why');

# --- stop: nothing remains ------------------------------------------------------
my $last = $hp3[0] // 0;
$h->stop;
ok($last && wait_until(5, sub { !alive($last) }, 0.05), 'after -k stop no helper process remains');
unlike($h->log_content, qr/exit signal|Segmentation|AH00052/, 'no crash logged');
unlink $other;
