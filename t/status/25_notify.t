# OCSPPrefetchNotifyCmd / OCSPPrefetchNotifyFailures (issue 4, items 3, 5).
# The notify program is a script the test writes into the server root: it
# appends "time pid args..." to a file the test reads.
#  Server t25-notify: OCSPPrefetchNotifyCmd notify.pl fix1 "fix 2",
#  OCSPPrefetchNotifyFailures 2, RetryDelay 1s 2s, RenewWindow 58s:
#   * good.test: 'renewed' with exactly (fix1, fix 2, renewed, subject,
#     serial, key) as arguments;
#   * revoked.test: exactly one 'revoked' with its identity;
#   * http500.test on a switchable responder URL, failing from the start:
#     exactly one 'failed' per failing streak, not before the 2nd failed
#     round; switched to good (a 60 s response): 'renewed'; switched to
#     http500 again: a second streak, a second 'failed' (exactly 2 in all);
#   * expiry.test: a 60 s response, then the responder URL drops every
#     connection: exactly one 'expired', at its nextUpdate (bounded: <= 75 s
#     from start; the other parts run meanwhile), one 'failed'.
#  Servers t25-hang (the program logs, then sleeps 600 s) and t25-exit1 (it
#  logs and exits 1), each with a 60 s response renewed every ~2 s: the
#  prefetch thread keeps fetching on schedule (responder log, no gap > 6 s),
#  handshakes are stapled with a fresh response, every renewal runs the
#  program, and a hanging run is ended after its 30 s bound.
#  The notifier is the exec'd ocsp-prefetch-notifier (its /proc/PID/exe),
#  not a fork of apache2 holding the parent's memory: a child of the
#  parent, root (the commands run as root), descriptors 0-3 only.
#  Server t25-nonotifier: the helper copied into a directory without the
#  notifier (the module looks for the notifier next to the helper): an
#  error at start-up names the missing program, and no event runs (no
#  fallback to a fork of the parent).
#  Bad arguments fail `apache2 -t` naming the directive: NotifyCmd missing,
#  not executable, no program; NotifyFailures 0, abc, 1001; a Notifier that
#  is not executable.
use strict;
use warnings;
use FindBin; use lib "$FindBin::Bin/../lib";
use Apache::Test qw(-withtestmore);
use Cwd qw(abs_path);
use File::Copy qw(copy);
use Time::HiRes qw(time);
use OCSPTest qw(module_built free_port responder_port leaf_serial wait_until alive
                responder_requests responder_log helper_path notifier_path slurp);
use OCSPTest::Httpd;
use OCSPTest::Client qw(verify_staple);
use OCSPTest::Persist qw(store_key set_switch responder_tmp);
use OCSPTest::Status qw(write_notify_script read_events);

plan tests => 37, need { 'module not built (stand-in run)' => module_built(),
                         'notifier not built' => -x notifier_path() };

my $rp = responder_port();
my $T0 = time;
my %SW = (flap => "t25f$$", expiry => "t25x$$", hang => "t25h$$", exit1 => "t25e$$");
my $main_pid = $$;
END { unlink map { responder_tmp() . "/switch-$_" } values %SW if $$ == ($main_pid // 0) }
set_switch($SW{flap}, 'http500');
set_switch($SW{expiry}, 'short');
set_switch($SW{hang}, 'short');
set_switch($SW{exit1}, 'short');
my $roff = -s responder_log() || 0;

sub url { "OCSPPrefetch on\nOCSPPrefetchResponder http://127.0.0.1:$rp/switch=$_[0]/\n" }
sub ident { my $n = shift; ("CN=$n.test,O=OCSP Prefetch Test", leaf_serial($n), store_key($n)) }

# --- the main server
my $A = OCSPTest::Httpd->new(name => 't25-notify',
    global => "OCSPPrefetchNotifyCmd notify.pl fix1 \"fix 2\"\nOCSPPrefetchNotifyFailures 2\n"
            . "OCSPPrefetchRetryDelay 1s 2s\nOCSPPrefetchRenewWindow 58s\nOCSPPrefetchTimeout 3\n",
    vhosts => [ { name => 'good',    conf => "OCSPPrefetch on\n" },
                { name => 'revoked', conf => "OCSPPrefetch on\n" },
                { name => 'expiry',  conf => url($SW{expiry}) },
                { name => 'flap', leaf => 'http500', conf => url($SW{flap}) } ]);
my $AOUT = $A->root . "/events.txt";
unlink $AOUT;
write_notify_script($A->root . "/notify.pl", $AOUT, 'ok');
$A->start;
my $xs = $A->staple('expiry');
set_switch($SW{expiry}, 'drop');             # from now on: connections dropped
my $xv = $xs->{der} ? verify_staple($xs->{der}, 'expiry') : {};
ok($xv->{verify_ok} && $xv->{next_epoch} && $xv->{next_epoch} - $xv->{this_epoch} == 60,
   'expiry.test stapled with a 60 s response; its responder URL now drops connections')
    or diag($xv->{text} // 'no staple');
my $N = $xv->{next_epoch} // time + 60;

# --- the servers whose program hangs / fails
my %h;
for my $mode (qw(hang exit1)) {
    $h{$mode} = OCSPTest::Httpd->new(name => "t25-$mode",
        global => "OCSPPrefetchNotifyCmd notify.pl $mode\nOCSPPrefetchRenewWindow 58s\nOCSPPrefetchRetryDelay 1s 2s\n",
        vhosts => [ { name => 'short', conf => url($SW{$mode}) } ]);
    unlink $h{$mode}->root . "/events.txt";
    write_notify_script($h{$mode}->root . "/notify.pl", $h{$mode}->root . "/events.txt",
                        $mode eq 'hang' ? 'hang' : 'fail');
    $h{$mode}->start;
    $h{$mode}{t_started} = time;
}

sub ev { my ($name, $leaf, $file) = @_; grep { $_->{args}[2] eq $name && $_->{args}[4] eq leaf_serial($leaf) } read_events($file // $AOUT) }

# --- renewed, revoked
{
    my @e;
    wait_until(10, sub { @e = ev('renewed', 'good') }, 0.1);
    is_deeply(@e ? $e[0]{args} : undef, [ 'fix1', 'fix 2', 'renewed', ident('good') ],
              "good.test: 'renewed' with arguments fix1, 'fix 2', renewed, subject, serial, key");
    wait_until(10, sub { @e = ev('revoked', 'revoked') }, 0.1);
    is_deeply(@e ? $e[0]{args} : undef, [ 'fix1', 'fix 2', 'revoked', ident('revoked') ],
              "revoked.test: 'revoked' with its subject, serial, key");
}

# --- the notifier: an exec'd program, not a fork of the parent
{
    my $notifier = abs_path(notifier_path());
    my @n = grep { (readlink("/proc/$_/exe") // '') eq $notifier } $A->children;
    is(scalar @n, 1, "one notifier, a child of the parent whose /proc/PID/exe is $notifier (not apache2)")
        or diag(join ' ', map { "$_: " . (readlink("/proc/$_/exe") // '?') } $A->children);
    my ($uid) = (slurp("/proc/" . ($n[0] // 0) . "/status") // '') =~ /^Uid:\s*(\d+)/m;
    is($uid // -1, $>, '... running as root, like the commands it runs (as the test: ' . $> . ')');
    opendir my $d, "/proc/" . ($n[0] // 0) . "/fd";
    my @fds = $d ? sort { $a <=> $b } grep { /^\d+$/ } readdir $d : ();
    is("@fds", '0 1 2 3', '... holding descriptors 0-3 only (stdio and its channel): '
       . join(' ', map { "$_=" . (readlink("/proc/$n[0]/fd/$_") // '?') } @fds));
}

# --- failed: once per streak, after 2 failed rounds
my $fser = leaf_serial('http500');
my @r1;
wait_until(20, sub { @r1 = responder_requests(off => $roff, serial => $fser, mode => "switch=$SW{flap}:http500"); @r1 >= 5 }, 0.2);
ok(@r1 >= 5, 'flap: ' . scalar(@r1) . ' failed rounds (HTTP 500) since start');
{
    my @f = ev('failed', 'http500');
    is(scalar(@f), 1, "flap: exactly one 'failed' for the streak") or diag(join "\n", map { $_->{line} } read_events($AOUT));
    is_deeply(@f ? $f[0]{args} : undef, [ 'fix1', 'fix 2', 'failed', ident('http500') ], "... with the certificate's identity");
    ok(@f && @r1 >= 2 && $f[0]{time} >= $r1[1]{time}, "... not before the 2nd failed round (OCSPPrefetchNotifyFailures 2)")
        or diag("event " . ($f[0]{time} // '-') . " rounds " . join(' ', map { $_->{time} } @r1[0 .. 1]));
}
{
    my $off = -s responder_log();
    set_switch($SW{flap}, 'short');
    my @e;
    my $t = time;
    wait_until(10, sub { @e = grep { $_->{time} >= $t } ev('renewed', 'http500') }, 0.1);
    ok(@e, "flap: responder good again: 'renewed'");
    $off = -s responder_log();
    set_switch($SW{flap}, 'http500');
    my @r2;
    wait_until(25, sub { @r2 = responder_requests(off => $off, serial => $fser, mode => "switch=$SW{flap}:http500"); @r2 >= 4 }, 0.2);
    ok(@r2 >= 4, 'flap: a second failing streak, ' . scalar(@r2) . ' failed rounds');
    my @f = ev('failed', 'http500');
    is(scalar(@f), 2, "flap: exactly two 'failed' events in all, one per streak")
        or diag(join "\n", map { $_->{line} } read_events($AOUT));
    ok(@f == 2 && @r2 >= 2 && $f[1]{time} >= $r2[1]{time}, '... the second not before the 2nd failed round of the second streak');
}

# --- hang / exit 1: the thread keeps its schedule
for my $mode (qw(hang exit1)) {
    my $hh = $h{$mode};
    my $out = $hh->root . "/events.txt";
    my $ser = leaf_serial('short');
    wait_until(40, sub { time - $hh->{t_started} >= 12 }, 0.5);
    my @r = responder_requests(off => $roff, serial => $ser, mode => "switch=$SW{$mode}:short");
    my @gaps = map { $r[$_]{time} - $r[$_ - 1]{time} } 1 .. $#r;
    my $maxgap = @gaps ? (sort { $b <=> $a } @gaps)[0] : 99;
    my $span = time - $hh->{t_started};
    ok(@r >= 5 && $maxgap <= 6 && time - $r[-1]{time} <= 6,
       sprintf("$mode: the prefetch thread keeps fetching on schedule: %d fetches in %.0f s, largest gap %.1f s", scalar(@r), $span, $maxgap))
        or diag(join "\n", map { $_->{line} } @r);
    my $g = $hh->staple('short');
    my $v = $g->{der} ? verify_staple($g->{der}, 'short') : {};
    ok($v->{verify_ok} && ($v->{status} // '') eq 'good' && ($v->{this_epoch} // 0) >= time - 8,
       "$mode: handshakes are stapled with a fresh response") or diag($v->{text} // 'no staple');
    my @e = grep { $_->{args}[0] eq $mode && $_->{args}[1] eq 'renewed' && $_->{args}[3] eq $ser } read_events($out);
    if ($mode eq 'hang') {
        # at most OPF_NOTIFY_MAX_RUNNING (4) runs at once: the others wait
        # in the notifier's queue (none dropped, below) for a slot
        is(scalar(@e), 4, "hang: 4 runs at once and no more (" . scalar(@r) . " fetches): the other renewals wait in the queue");
    }
    else {
        ok(@e >= @r - 1, "$mode: the program ran for every renewal (" . scalar(@e) . " runs, " . scalar(@r) . " fetches)");
    }
    is(scalar($hh->log_lines(qr/notify command busy|event '\w+' dropped/)), 0, "$mode: no event dropped");
}
{
    my $hh = $h{hang};
    my $out = $hh->root . "/events.txt";
    # every run is ended 30 s after it started (SIGTERM, then SIGKILL 1 s
    # later): watch the runs' processes until the first one is 36 s old
    my ($first) = read_events($out);
    my $end = $first ? $first->{time} + 36 : time;
    my %gone;                                    # pid => seconds it lived
    wait_until(45, sub {                         # bounded: the expiry wait below needs this long anyway
        for my $e (read_events($out)) { $gone{$e->{pid}} //= time - $e->{time} unless alive($e->{pid}) }
        time >= $end }, 0.1);
    my @old = grep { $_->{time} < time - 33 } read_events($out);
    my @late = grep { !defined $gone{$_->{pid}} || $gone{$_->{pid}} > 32 } @old;
    ok(@old && !@late, 'hang: every run older than 33 s was ended within 32 s (30 s bound + 1 s to SIGKILL + 1 s); lifetimes '
       . join(' ', map { defined $gone{$_->{pid}} ? sprintf('%.1f', $gone{$_->{pid}}) : 'alive' } @old))
        or diag("too late or still alive: " . join(' ', map { "pid $_->{pid} started " . sprintf('%.1f s ago', time - $_->{time}) } @late));
    my @young = grep { $_->{time} >= time - 25 } read_events($out);
    ok(scalar(grep { alive($_->{pid}) } @young) >= 1, '... while queued renewals got the freed slots and are hanging in turn (so they really hang)');
}

# --- expired
{
    my @e;
    wait_until(max(1, $N + 15 - time), sub { @e = ev('expired', 'expiry') }, 0.2);
    ok(time - $T0 <= 90, sprintf('expiry: waited %.0f s in all', time - $T0));
    is(scalar(@e), 1, "expiry: one 'expired' event when the 60 s response ran out")
        or diag(join "\n", map { $_->{line} } read_events($AOUT));
    is_deeply(@e ? $e[0]{args} : undef, [ 'fix1', 'fix 2', 'expired', ident('expiry') ], '... with its identity');
    ok(@e && $e[0]{time} >= $N && $e[0]{time} <= $N + 5, sprintf('... at its nextUpdate (%+.1f s)', @e ? $e[0]{time} - $N : 0));
    my @f = ev('failed', 'expiry');
    is(scalar(@f), 1, "expiry: one 'failed' for its failing streak");
    is(scalar(ev('expired', 'good')) + scalar(ev('failed', 'good')) + scalar(ev('failed', 'revoked')), 0,
       'no failed or expired event for good.test and revoked.test');
    is(scalar(ev('revoked', 'revoked')), 1, "exactly one 'revoked' event");
}
sub max { $_[0] > $_[1] ? $_[0] : $_[1] }

# --- a graceful restart does not repeat the events of streaks in progress
{
    my %before = (failed_flap => scalar(ev('failed', 'http500')), failed_exp => scalar(ev('failed', 'expiry')),
                  expired_exp => scalar(ev('expired', 'expiry')), revoked => scalar(ev('revoked', 'revoked')),
                  renewed_good => scalar(ev('renewed', 'good')));
    my $off = -s responder_log();
    $A->graceful;
    my (@rf, @rx);
    wait_until(25, sub {
        @rf = responder_requests(off => $off, serial => $fser, mode => "switch=$SW{flap}:http500");
        @rx = responder_requests(off => $off, serial => leaf_serial('expiry'), mode => "switch=$SW{expiry}:drop");
        @rf >= 3 && @rx >= 3 }, 0.2);
    my %after = (failed_flap => scalar(ev('failed', 'http500')), failed_exp => scalar(ev('failed', 'expiry')),
                 expired_exp => scalar(ev('expired', 'expiry')), revoked => scalar(ev('revoked', 'revoked')),
                 renewed_good => scalar(ev('renewed', 'good')));
    ok(@rf >= 3 && @rx >= 3, 'graceful restart: flap and expiry go on failing (' . scalar(@rf) . ' and ' . scalar(@rx) . ' rounds)');
    is_deeply(\%after, \%before, "... no new 'failed', 'expired', 'revoked' or 'renewed' event: the same streaks, nothing renewed")
        or diag(join "\n", map { $_->{line} } read_events($AOUT));
}

$_->stop for $A, values %h;

# --- no notifier installed next to the helper: an error, no events, no fork
{
    my $b = OCSPTest::Httpd->new(name => 't25-nonotifier', global => '',
        vhosts => [ { name => 'good', conf => "OCSPPrefetch on\n" } ]);
    my $root = $b->root;
    mkdir "$root/libexec";
    copy(helper_path(), "$root/libexec/ocsp-prefetch-helper") && chmod 0755, "$root/libexec/ocsp-prefetch-helper";
    chmod 0755, $root, "$root/libexec";
    unlink "$root/libexec/ocsp-prefetch-notifier", "$root/events.txt";
    write_notify_script("$root/notify.pl", "$root/events.txt", 'ok');
    $b->{global} = "OCSPPrefetchPrivsep on \"$root/libexec/ocsp-prefetch-helper\"\n"
                 . "OCSPPrefetchNotifyCmd notify.pl\nOCSPPrefetchRenewWindow 58s\n";
    $b->write_config;
    $b->start;
    my $g = $b->staple('good');
    ok(scalar $b->log_lines(qr{\[ocsp_prefetch:error\].*cannot start the OCSPPrefetchNotifyCmd notifier \Q$root\E/libexec/ocsp-prefetch-notifier .*no events are run}),
       'no notifier next to the helper: an error at start-up names it') or diag($b->log_tail(5));
    # the 'renewed' event of the first fetch would have run by now
    wait_until(3, sub { -e "$root/events.txt" }, 0.1);
    ok($g->{der} && !-e "$root/events.txt", '... the server staples, and no event runs (no fork of the parent instead)');
    $b->stop;
}

# --- bad arguments
{
    my $b = OCSPTest::Httpd->new(name => 't25-bad', global => '');
    my $root = $b->root;
    write_notify_script("$root/ok.pl", "$root/x.txt", 'ok');
    open my $fh, '>', "$root/noexec.sh" or die; print $fh "#!/bin/sh\n"; close $fh; chmod 0644, "$root/noexec.sh";
    my @cases = (
        [ "OCSPPrefetchNotifyCmd $root/does-not-exist", 'OCSPPrefetchNotifyCmd', 'a missing program' ],
        [ "OCSPPrefetchNotifyCmd $root/noexec.sh arg",  'OCSPPrefetchNotifyCmd', 'a program that is not executable' ],
        [ "OCSPPrefetchNotifyCmd",                      'OCSPPrefetchNotifyCmd', 'no program' ],
        [ "OCSPPrefetchNotifyFailures 0",               'OCSPPrefetchNotifyFailures', '0' ],
        [ "OCSPPrefetchNotifyFailures abc",             'OCSPPrefetchNotifyFailures', 'abc' ],
        [ "OCSPPrefetchNotifyFailures 1001",            'OCSPPrefetchNotifyFailures', '1001' ],
        [ "OCSPPrefetchNotifier $root/noexec.sh",       'OCSPPrefetchNotifier', 'a Notifier that is not executable' ],
    );
    my @bad;
    for my $c (@cases) {
        $b->{global} = "$c->[0]\n"; $b->write_config;
        my ($rc, $out) = $b->configtest;
        push @bad, "$c->[2]: rc=$rc $out" unless $rc != 0 && $out =~ /\Q$c->[1]\E/;
    }
    ok(!@bad, 'apache2 -t fails naming the directive for: ' . join(', ', map { $_->[2] } @cases)) or diag(join "\n", @bad);
    $b->{global} = "OCSPPrefetchNotifyCmd ok.pl one two\nOCSPPrefetchNotifyFailures 1\n"; $b->write_config;
    my ($rc, $out) = $b->configtest;
    ok($rc == 0 && $out =~ /Syntax OK/, 'while a program relative to ServerRoot and NotifyFailures 1 pass') or diag($out);
}
