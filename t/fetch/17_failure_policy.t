# Failure policy (issue 3, rule 2).
#  * A failed or rejected fetch never replaces or removes a good response that
#    is still valid: one own server per fault (garbage, wrongkey, http500,
#    trylater, othercert), each refreshing every 1-2 s (RenewWindow 2d) from
#    the suite responder's switch=NAME URL.  It starts 'good', is switched to
#    the fault, and through at least 3 failed rounds every handshake carries
#    the same good staple (same bytes, same thisUpdate), which verifies; the
#    log says why each round failed and that the response held is still
#    served.  Switched back to good, a newer response is stapled again.
#  * A fetched response with an older thisUpdate than the one held (switch
#    to 'past': made an hour ago, still valid) is not stored: the log says
#    "older thisUpdate" and the staple keeps the newer thisUpdate.
#  * An expired response is never served: 60 s responses (-nmin 1) from an
#    own responder that is stopped after the first fetch; the staple is
#    served up to its nextUpdate and not at or after it (handshakes polled
#    every ~0.1 s around the boundary; no served staple is ever past its
#    nextUpdate).  Bounded: about 65 s, the other parts run meanwhile.
#    That server has OCSPPrefetchRetryDelay 1s 1h and RenewWindow 58s, so it
#    retries from the start of the outage: the retries back off but never
#    so far that the response expires unrefreshed: each gap is at most a
#    quarter of the validity left (or the 1 s floor, +20 % jitter), and
#    there are attempts in the last seconds before nextUpdate.
use strict;
use warnings;
use FindBin; use lib "$FindBin::Bin/../lib";
use Apache::Test qw(-withtestmore);
use Time::HiRes qw(time);
use OCSPTest qw(module_built free_port wait_until responder_port leaf_serial responder_log);
use OCSPTest::Httpd;
use OCSPTest::Responder;
use OCSPTest::Client qw(verify_staple);
use OCSPTest::Persist qw(set_switch wait_requests);

my %FAULT = (
    garbage   => qr/rejected OCSP response: /,
    wrongkey  => qr/rejected OCSP response: bad signature/,
    http500   => qr/OCSP fetch failed: HTTP status 500/,
    trylater  => qr/rejected OCSP response: responder status tryLater/,
    othercert => qr/rejected OCSP response: no SingleResponse for this certificate/,
);
my @FAULTS = sort keys %FAULT;
plan tests => 3 + 8 * @FAULTS + 8 + 11,
    need { 'module not built (stand-in run)' => module_built() };

my $rp = responder_port();
my $serial = leaf_serial('failpol');
my $glob = "OCSPPrefetchRenewWindow 2d\nOCSPPrefetchRetryDelay 1s 2s\nOCSPPrefetchTimeout 3\n";

# --- expiry: started first, it needs a minute
my $xport = free_port();
my $xr = OCSPTest::Responder->start(port => $xport, lifetime => 150);
my $x = OCSPTest::Httpd->new(name => 't17-expiry', global => "OCSPPrefetchRetryDelay 1s 1h\nOCSPPrefetchRenewWindow 58s\nOCSPPrefetchTimeout 2\n",
    vhosts => [ { name => 'expiry', conf => "OCSPPrefetch on\nOCSPPrefetchResponder http://127.0.0.1:$xport/short/\n" } ]);
$x->start;
$xr->stop;                                   # refused from now on
my $XS = $x->staple('expiry');               # the last good one
my $xv = $XS && $XS->{der} ? verify_staple($XS->{der}, 'expiry') : {};
ok($xv->{verify_ok} && $xv->{next_epoch} && $xv->{this_epoch}
   && $xv->{next_epoch} - $xv->{this_epoch} == 60, 'expiry: stapled a 60 s response, then the responder stopped')
    or diag($xv->{text} // 'no staple');
my $N = $xv->{next_epoch} // time + 60;

# --- one server per fault, plus one for the older thisUpdate
my (%h, %sw);
my $main_pid = $$;
END { unlink map { OCSPTest::Persist::responder_tmp() . "/switch-$_" } values %sw if $$ == ($main_pid // 0) }
for my $m (@FAULTS, 'past') {
    $sw{$m} = "t17$m$$";
    set_switch($sw{$m}, 'good');
    $h{$m} = OCSPTest::Httpd->new(name => "t17-$m", global => $glob,
        vhosts => [ { name => 'failpol', conf => "OCSPPrefetch on\nOCSPPrefetchResponder http://127.0.0.1:$rp/switch=$sw{$m}/\n" } ]);
    $h{$m}->start;
}
ok(!grep({ !($h{$_}->first_handshake && defined $h{$_}->first_handshake->{der}) } keys %h),
   'all fault servers stapled while their responder URL is good');

my $roff = -s responder_log() || 0;
set_switch($sw{$_}, $_) for @FAULTS, 'past';
my (%S1, %off, %stored);
for my $m (@FAULTS, 'past') {
    my @r = wait_requests(1, 10, off => $roff, serial => $serial, mode => "switch=$sw{$m}:$m");
    $off{$m} = -s responder_log();
    # the fetch before this one was good and is processed: what is held now
    $S1{$m} = $h{$m}->staple('failpol');
    $S1{$m}{v} = $S1{$m}{der} ? verify_staple($S1{$m}{der}, 'failpol') : {};
    $stored{$m} = scalar $h{$m}->log_lines(qr/failpol\.test.*stored OCSP response/);
}
ok(!grep({ !defined $S1{$_}{der} } keys %S1), 'every fault server holds a staple when its responder turns bad');

for my $m (@FAULTS) {
    my @r = wait_requests(3, 20, off => $off{$m}, serial => $serial, mode => "switch=$sw{$m}:$m");
    ok(@r >= 3, "$m: " . scalar(@r) . " more failed rounds against the faulty responder");
    my @g = map { $h{$m}->staple('failpol') } 1 .. 2;
    ok(!grep({ !defined $_->{der} } @g), "$m: still stapled");
    ok(!grep({ ($_->{der} // '') ne $S1{$m}{der} } @g), "$m: ... the same response (same bytes) as before the fault");
    my $v = $g[0]{der} ? verify_staple($g[0]{der}, 'failpol') : {};
    ok($v->{verify_ok} && ($v->{status} // '') eq 'good' && !$v->{status_times_invalid}, "$m: ... it verifies, good")
        or diag($v->{text} // '');
    is($v->{this_epoch}, $S1{$m}{v}{this_epoch}, "$m: ... same thisUpdate");
    my @why = $h{$m}->log_lines($FAULT{$m});
    ok(@why >= 3, "$m: the log says why each round failed (" . scalar(@why) . " lines)")
        or diag(join "\n", $h{$m}->log_lines(qr/failpol\.test/));
    ok(scalar($h{$m}->log_lines(qr/failing: .*still stapling the response held|still failing after \d+ rounds/)) >= 3,
       "$m: ... and that the response held is still served");
}

# back to good: a newer response is stapled again
set_switch($sw{$_}, 'good') for @FAULTS;
for my $m (@FAULTS) {
    my $g;
    wait_until(15, sub { $g = $h{$m}->staple('failpol'); defined $g->{der} && $g->{der} ne $S1{$m}{der} }, 0.2);
    my $v = $g->{der} ? verify_staple($g->{der}, 'failpol') : {};
    ok($v->{verify_ok} && ($v->{this_epoch} // 0) > ($S1{$m}{v}{this_epoch} // 9e9),
       "$m: responder good again: a newer response is stapled");
    $h{$m}->stop;
}

# --- older thisUpdate
{
    my $m = 'past';
    my @r = wait_requests(2, 20, off => $off{$m}, serial => $serial, mode => "switch=$sw{$m}:past");
    ok(@r >= 2, 'past: the responder handed out ' . scalar(@r) . ' more responses made an hour ago');
    my $g = $h{$m}->staple('failpol');
    my $v = $g->{der} ? verify_staple($g->{der}, 'failpol') : {};
    ok(defined $g->{der} && $g->{der} eq $S1{$m}{der}, 'past: the staple is still the newer response (same bytes)');
    ok($v->{verify_ok} && ($v->{status} // '') eq 'good', 'past: it verifies, good') or diag($v->{text} // '');
    is($v->{this_epoch}, $S1{$m}{v}{this_epoch}, 'past: ... same thisUpdate');
    ok(($v->{this_epoch} // 0) > time - 600, 'past: ... which is recent, not the hour-old one');
    my @old = $h{$m}->log_lines(qr/failpol\.test.*rejected OCSP response: older thisUpdate/);
    ok(@old >= 2, 'past: the log says "older thisUpdate" for each (' . scalar(@old) . ' lines)')
        or diag(join "\n", $h{$m}->log_lines(qr/failpol\.test/));
    is(scalar($h{$m}->log_lines(qr/failpol\.test.*stored OCSP response/)), $stored{$m}, 'past: none of them was stored');
    ok($h{$m}->stop, 'past: stopped');
}

# --- expiry boundary
ok(wait_until(75, sub { time >= $N - 3 }, 0.2), 'expiry: 3 s before nextUpdate (bounded wait on the clock)');
my @polls;
while (time < $N + 2) {
    my $t0 = time;
    my $g = $x->staple('expiry', timeout => 3);
    push @polls, { t0 => $t0, t1 => time, ok => $g->{ok}, der => $g->{der} };
}
my @before = grep { $_->{t1} < $N - 0.3 } @polls;
my @after  = grep { $_->{t0} >= $N + 0.1 } @polls;
ok(@before >= 3 && !grep({ !defined $_->{der} || $_->{der} ne $XS->{der} } @before),
   'expiry: every handshake before nextUpdate carries the staple (' . scalar(@before) . ' handshakes)');
ok(@after >= 3 && !grep({ defined $_->{der} } @after),
   'expiry: no handshake from nextUpdate on carries it (' . scalar(@after) . ' handshakes)')
    or diag(join "\n", map { sprintf "%.3f %s", $_->{t0} - $N, defined $_->{der} ? 'staple' : 'none' } @polls);
ok(!grep({ !$_->{ok} } @polls), 'expiry: every handshake succeeded');
my @served = grep { defined $_->{der} } @polls;
ok(!grep({ $_->{t0} >= $N } @served), 'expiry: no staple served past its nextUpdate');
ok(scalar($x->log_lines(qr/expiry\.test.*still stapling the response held/)) >= 1,
   'expiry: the refreshes before nextUpdate failed (responder down) and the held response stayed');
ok(wait_until(8, sub { scalar $x->log_lines(qr/expiry\.test.*expired: the last valid OCSP response ran out.*no staple is served/) }, 0.2),
   'expiry: at nextUpdate the log says the staple expired and none is served');
my @att = map { OCSPTest::log_time($_) } $x->log_lines(qr/expiry\.test.*OCSP fetch failed/);
my @pre = grep { $_ < $N } @att;
ok(@pre >= 6, 'expiry: ' . scalar(@pre) . ' refresh attempts during the outage before nextUpdate');
my @late;
for my $k (0 .. $#pre - 1) {
    my $allowed = ($N - $pre[$k]) / 4;
    $allowed = 1.2 if $allowed < 1.2;
    push @late, sprintf('%.2f s after an attempt %.1f s before nextUpdate', $pre[$k + 1] - $pre[$k], $N - $pre[$k])
        if $pre[$k + 1] - $pre[$k] > $allowed + 0.3;
}
ok(!@late, 'expiry: no retry gap longer than a quarter of the validity left (ceiling 1 h notwithstanding)')
    or diag(join "\n", @late);
ok(@pre && $pre[-1] >= $N - 3, sprintf('expiry: still trying %.1f s before nextUpdate', @pre ? $N - $pre[-1] : -1));
ok($x->stop, 'expiry: stopped');
