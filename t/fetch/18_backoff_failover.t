# Retries and failover (issue 3, rule 2).  Three own servers at once:
#  * t18-backoff: OCSPPrefetchRetryDelay 1s 4s, the responder answers HTTP
#    500 for backoff.test.  The gaps between its requests in the responder
#    log grow (nominal 1, 2, 4 s with +-20 % jitter, each at least 1.25x the
#    one before) and then stay at the 4 s ceiling.
#  * t18-carry: OCSPPrefetchRetryDelay 1s 8s, HTTP 500 for backoffg.test.
#    After 3 failed rounds (next delay 4 s +-20 %) three graceful restarts in
#    a row: the first attempt after them comes no sooner than the carried
#    retry time, and the log counts on ("still failing after 4 rounds").  A
#    restart loop does not hammer the responder.
#  * t18-twourl: twourl.test's AIA names two OCSP URLs, the first on a port
#    where nothing listens (127.0.0.1:1), the second the suite responder:
#    stapled at startup, the log shows the first URL failed and the second was
#    asked, and no round was counted as failed.
use strict;
use warnings;
use FindBin; use lib "$FindBin::Bin/../lib";
use Apache::Test qw(-withtestmore);
use Time::HiRes qw(time);
use IO::Socket::INET;
use OCSPTest qw(module_built wait_until responder_port leaf_serial responder_log);
use OCSPTest::Httpd;
use OCSPTest::Client qw(verify_staple);
use OCSPTest::Persist qw(restart_first wait_requests);

plan tests => 8 + 7 + 6, need { 'module not built (stand-in run)' => module_built() };

my $rp = responder_port();
my $roff = -s responder_log() || 0;
my ($sb, $sg, $s2) = map { leaf_serial($_) } qw(backoff backoffg twourl);
my $h500 = "OCSPPrefetch on\nOCSPPrefetchResponder http://127.0.0.1:$rp/http500/\n";

my $b = OCSPTest::Httpd->new(name => 't18-backoff',
    global => "OCSPPrefetchRetryDelay 1s 4s\nOCSPPrefetchTimeout 3\n",
    vhosts => [ { name => 'backoff', conf => $h500 } ]);
my $c = OCSPTest::Httpd->new(name => 't18-carry',
    global => "OCSPPrefetchRetryDelay 1s 8s\nOCSPPrefetchTimeout 3\n",
    vhosts => [ { name => 'backoffg', conf => $h500 } ]);
my $w = OCSPTest::Httpd->new(name => 't18-twourl',
    global => "OCSPPrefetchRetryDelay 1s 4s\nOCSPPrefetchTimeout 3\n",
    vhosts => [ { name => 'twourl', conf => "OCSPPrefetch on\n" } ]);
$b->start;
$c->start;

# --- every URL in turn
{
    my $listening = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => 1, Proto => 'tcp', Timeout => 1);
    SKIP: {
        skip 'something listens on 127.0.0.1:1 (the dead first URL of twourl.test)', 6 if $listening;
        $w->start;
        my $g = $w->first_handshake;
        my $v = $g && $g->{der} ? verify_staple($g->{der}, 'twourl') : {};
        ok($v->{verify_ok} && ($v->{status} // '') eq 'good', 'two URLs, first dead: the first handshake carries a good staple')
            or diag($w->log_tail);
        my @l = $w->log_lines(qr/twourl\.test/);
        my ($i1) = grep { $l[$_] =~ m{OCSP fetch failed: .*\(responder http://127\.0\.0\.1:1/good/\)} } 0 .. $#l;
        my ($i2) = grep { $l[$_] =~ m{fetching OCSP response by \w+ from http://127\.0\.0\.1:$rp/good/} } 0 .. $#l;
        ok(defined $i1, 'the log shows the first URL (127.0.0.1:1) failed') or diag(join "\n", @l);
        ok(defined $i1 && defined $i2 && $i2 > $i1, '... and then the second URL was asked');
        ok(OCSPTest::count_requests(off => $roff, serial => $s2, mode => 'good', status => 200) >= 1,
           'the second responder answered for twourl.test');
        is(scalar(grep { /failing:|still failing after|consecutive failed round/ } @l), 0, 'no failed round was counted: the second URL answered within the round');
        ok($w->stop, 'twourl: stopped');
    }
}

# --- the failure count survives graceful restarts
my @r = wait_requests(3, 15, off => $roff, serial => $sg, mode => 'http500');
ok(@r >= 3, 'carry: 3 failed rounds (at ~0, 1, 3 s)');
my $t3 = $r[2]{time};
my $goff = -s $c->error_log;
my $gt0 = time;
my $ok = eval { restart_first($c, 'graceful') for 1 .. 3; 1 };
my $gt1 = time;
ok($ok, sprintf('carry: three graceful restarts in a row (%.2f s)', $gt1 - $gt0)) or diag($@);
@r = wait_requests(4, 15, off => $roff, serial => $sg, mode => 'http500');
my $t4 = $r[3]{time};
ok(defined $t4, 'carry: a 4th attempt came');
my $gap = defined $t4 ? $t4 - $t3 : -1;
ok($t4 && $gap >= 4 * 0.8 - 0.15, sprintf('carry: it came %.2f s after the 3rd, no sooner than the carried 4 s (-20 %% jitter)', $gap));
ok($t4 && $gap <= 4 * 1.2 + 1, sprintf('carry: ... and not much later (%.2f s <= 5.8 s)', $gap));
ok($t4 && $t4 > $gt1, 'carry: ... which is after the restarts had finished (they did not trigger a fetch)');
ok(wait_until(5, sub { grep { /backoffg\.test.*still failing after 4 rounds/ } split /\n/, $c->log_content($goff) }, 0.1),
   'carry: the new generation counts on: "4 consecutive failed rounds"')
    or diag(join "\n", grep { /consecutive/ } split /\n/, $c->log_content($goff));
$c->stop;

# --- exponential backoff up to the ceiling
@r = wait_requests(6, 25, off => $roff, serial => $sb, mode => 'http500');
ok(@r >= 6, 'backoff: 6 attempts within 25 s');
my @gap = map { $r[$_]{time} - $r[$_ - 1]{time} } 1 .. $#r;
diag('backoff: gaps ' . join(' ', map { sprintf '%.2f', $_ } @gap));
my @want = ([0.7, 1.35], [1.5, 2.6], [3.1, 5.0], [3.1, 5.0], [3.1, 5.0]);
for my $k (0 .. 2) {
    my $gk = $gap[$k] // -1;
    ok($gk >= $want[$k][0] && $gk <= $want[$k][1],
       sprintf('backoff: gap %d is %.2f s (nominal %d s +-20 %%)', $k + 1, $gk, 2 ** $k));
}
ok(@gap >= 3 && $gap[1] > 1.25 * $gap[0] && $gap[2] > 1.25 * $gap[1], 'backoff: the gaps grow (each > 1.25x the previous)');
my @ceil = @gap[3 .. $#gap];
ok(@ceil >= 2 && !grep({ $_ < 3.1 || $_ > 5.0 } @ceil), 'backoff: then they stay at the 4 s ceiling (+-20 %)');
ok(!grep({ $_ > 4 * 1.2 + 0.2 } @gap), 'backoff: no gap beyond the ceiling');
ok($b->stop, 'backoff: stopped');
