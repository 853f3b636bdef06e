# /short/ responses (valid 60 s), OCSPPrefetchRenewWindow 50s: the staple's
# thisUpdate advances within a bounded wait and the staple served meanwhile is
# never expired.
use strict;
use warnings;
use FindBin; use lib "$FindBin::Bin/../lib";
use Apache::Test qw(-withtestmore);
use Time::HiRes qw(time sleep);
use OCSPTest qw(module_built wait_until responder_port);
use OCSPTest::Httpd;
use OCSPTest::Client qw(get_staple verify_staple);

plan tests => 7, need { 'module not built (stand-in run)' => module_built() };

my $rp = responder_port();
my $h = OCSPTest::Httpd->new(name => 'refresh',
    global => "OCSPPrefetchRenewWindow 50s\nOCSPPrefetchRetryDelay 1s 2s\nOCSPPrefetchStartupWait 5\n",
    vhosts => [ { name => 'short', conf => "OCSPPrefetch on\nOCSPPrefetchResponder http://127.0.0.1:$rp/short/\n" } ]);
$h->start;

my $first;
wait_until(15, sub { $first = get_staple(port => $h->port('short'), sni => 'short.test');
                     defined $first->{der} }, 0.25);
ok(defined $first->{der}, 'short.test is stapled');
my $v0 = $first->{der} ? verify_staple($first->{der}, 'short') : {};
ok($v0->{verify_ok} && $v0->{status} eq 'good', 'first staple verifies, good') or diag($v0->{text});
ok($v0->{next_epoch} && $v0->{this_epoch} && $v0->{next_epoch} - $v0->{this_epoch} <= 61,
   'it is a short-lived (60 s) response');

# 60 s validity, renew when less than 50 s remain => ~10 s after thisUpdate
# (plus jitter).  Bound: 40 s.
my ($advanced, $bad, $missing, $checks) = (0, 0, 0, 0);
my $end = time + 40;
while (time < $end) {
    my $g = get_staple(port => $h->port('short'), sni => 'short.test');
    $checks++;
    if (!defined $g->{der}) { $missing++; }
    else {
        my $v = verify_staple($g->{der}, 'short');
        if (!$v->{verify_ok} || $v->{status} ne 'good' || !$v->{next_epoch}
            || $v->{next_epoch} <= time) {
            $bad++;
            diag("bad/expired staple: $v->{text}");
        }
        if ($v->{this_epoch} && $v->{this_epoch} > $v0->{this_epoch}) {
            $advanced = $v->{this_epoch} - $v0->{this_epoch};
            last;
        }
    }
    sleep 0.5;
}
ok($advanced, "thisUpdate advanced (by $advanced s) within 40 s");
is($bad, 0, "no expired or unverifiable staple served ($checks handshakes)");
is($missing, 0, 'the staple never went missing during the refresh');
ok($h->pid, 'server still running');
$h->stop;
