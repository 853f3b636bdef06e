# Own httpd, OCSPPrefetchStartupWait 2, responder down at startup: start
# completes within 2 s + margin, handshakes succeed without staple; once the
# responder comes up on that port the staple appears (RetryDelay 1s).
# A second vhost points at a responder that hangs: that must not stretch the
# startup beyond the StartupWait either.
use strict;
use warnings;
use FindBin; use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use Time::HiRes qw(time);
use OCSPTest qw(module_built free_port wait_until responder_port);
use OCSPTest::Httpd;
use OCSPTest::Responder;
use OCSPTest::Client qw(get_staple verify_staple);

plan tests => 9, need { 'module not built (stand-in run)' => module_built() };

my $WAIT   = 2;
my $MARGIN = 3;
my $down = free_port();          # nothing listens here (yet)
my $rp   = responder_port();     # suite responder, for the /hang/ vhost

my $h = OCSPTest::Httpd->new(name => 'startup',
    global => "OCSPPrefetchStartupWait $WAIT\nOCSPPrefetchRetryDelay 1s 1s\nOCSPPrefetchTimeout 10\n",
    vhosts => [
        { name => 'startup', conf => "OCSPPrefetch on\nOCSPPrefetchResponder http://127.0.0.1:$down/good/\n" },
        { name => 'hang', leaf => 'hang',
          conf => "OCSPPrefetch on\nOCSPPrefetchResponder http://127.0.0.1:$rp/hang/\n" },
    ]);

my $elapsed = eval { $h->start(timeout => 30) };
ok(defined $elapsed, 'httpd starts with the responder down') or diag($@);
diag(sprintf "start to first handshake: %.2f s", $elapsed // -1);
ok(defined $elapsed && $elapsed < $WAIT + $MARGIN,
   "start completes within StartupWait ${WAIT}s + ${MARGIN}s margin");

my $g = get_staple(port => $h->port('startup'), sni => 'startup.test');
ok($g->{ok}, 'handshake succeeds while the responder is down') or diag($g->{error});
ok(!defined $g->{der}, '... without a staple');

my $gh = get_staple(port => $h->port('hang'), sni => 'hang.test', timeout => 5);
ok($gh->{ok} && !defined $gh->{der}, 'hanging responder: handshake succeeds at once, no staple');

# now bring the responder up on the port the vhost points at
my $t0 = time;
my $r = OCSPTest::Responder->start(port => $down, lifetime => 120);
my $got;
wait_until(20, sub { $got = get_staple(port => $h->port('startup'), sni => 'startup.test');
                     defined $got->{der} }, 0.25);
ok(defined $got->{der}, 'staple appears after the responder comes up');
diag(sprintf "staple appeared %.1f s after the responder started", time - $t0);
my $v = $got->{der} ? verify_staple($got->{der}, 'startup') : {};
ok($v->{verify_ok}, 'staple verifies') or diag($v->{text} // '');
is($v->{status}, 'good', 'staple says good');

ok($h->pid, 'server still running');
$h->stop;
$r->stop;
