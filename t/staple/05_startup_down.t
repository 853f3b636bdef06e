# Own httpd, OCSPPrefetchStartupWait 2, responder down at startup: start
# completes within 2 s + margin, handshakes succeed without staple; once the
# responder comes up on that port the staple appears (RetryDelay 1s).
# A second vhost points at a responder that hangs: that must not stretch the
# startup beyond the StartupWait either.
use strict;
use warnings;
use FindBin; use lib "$FindBin::Bin/../lib";
use Apache::Test qw(-withtestmore);
use Time::HiRes qw(time);
use OCSPTest qw(module_built free_port wait_until responder_port);
use OCSPTest::Httpd;
use OCSPTest::Responder;
use OCSPTest::Client qw(get_staple verify_staple);

plan tests => 14, need { 'module not built (stand-in run)' => module_built() };

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
# ... and it did wait: hang.test's first round cannot end before the 10 s
# timeout, so startup must have used (about) all of the StartupWait
ok(defined $elapsed && $elapsed >= $WAIT - 0.3,
   sprintf("start waited the StartupWait for the hanging responder (%.2f s >= %.1f s)", $elapsed // -1, $WAIT - 0.3));

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

# The StartupWait is honoured: a responder that answers after 1.5 s, StartupWait
# 5: the very first handshake (start() makes it as soon as the pid file is
# there, i.e. after post_config) carries the staple.  A module that ignored
# the wait would serve that handshake without one.
my $d = OCSPTest::Httpd->new(name => 'startup-delay',
    global => "OCSPPrefetchStartupWait 5\n",
    vhosts => [ { name => 'delay', conf => "OCSPPrefetch on\nOCSPPrefetchResponder http://127.0.0.1:$rp/delay=1.5/\n" } ]);
my $e = eval { $d->start(timeout => 30) };
ok(defined $e, 'delayed responder: httpd starts') or diag($@);
ok(defined $e && $e >= 1.3 && $e < 5 + $MARGIN,
   sprintf('... start took %.2f s: it waited for the 1.5 s answer, less than StartupWait + margin', $e // -1));
my $f = $d->first_handshake;
ok($f && defined $f->{der}, '... the very first handshake carries the staple');
my $fv = $f && $f->{der} ? verify_staple($f->{der}, 'delay') : {};
ok($fv->{verify_ok} && ($fv->{status} // '') eq 'good', '... good staple that verifies') or diag($fv->{text} // '');
$d->stop;
