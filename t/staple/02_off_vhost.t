# OCSPPrefetch off (explicit and default) gets no staple; an off vhost with
# mod_ssl's SSLUseStapling on gets mod_ssl's staple.
use strict;
use warnings;
use FindBin; use lib "$FindBin::Bin/../lib";
use Apache::Test qw(-withtestmore);
use OCSPTest qw(wait_until standin slurp leaf_serial responder_requests);
use OCSPTest::Main qw(staple wait_staple error_log);

plan tests => 14;

# make sure the prefetcher had time to do its work (good.test is stapled)
my ($gg) = wait_staple('good', 15);
ok(defined $gg->{der}, 'sanity: good.test is stapled, so the prefetcher has run');

for my $n (qw(off dflt)) {
    # several handshakes: none may carry a staple
    my @g = map { (staple($n))[0] } 1 .. 3;
    ok(!(grep { !$_->{ok} } @g), "$n.test: handshakes succeed");
    ok(!(grep { defined $_->{der} } @g), "$n.test: no staple (OCSPPrefetch "
       . ($n eq 'off' ? 'off' : 'not set') . ")");
}

# mod_ssl fetches on the first handshake that needs it (and may staple nothing
# on that one), so poll.
my ($g, $v) = wait_staple('stapling', 15);
ok(defined $g->{der}, 'stapling.test (off + SSLUseStapling on) gets a staple');
SKIP: {
    skip 'no staple', 2 unless $v;
    ok($v->{verify_ok}, "mod_ssl's staple verifies") or diag($v->{text});
    is($v->{status}, 'good', "mod_ssl's staple says good");
}

# Who fetched what: mod_ssl POSTs, this module GETs (short URLs).  A module
# that took over an "off" certificate would GET it; one that merely stapled
# nothing for it, while still owning it, would keep mod_ssl from fetching.
my @reg = grep { /\bregistered\b/ } split /\n/, (slurp(error_log()) // '');
for my $n (qw(off dflt)) {
    is(scalar(responder_requests(serial => leaf_serial($n))), 0, "$n.test: nobody asked the responder for it");
    is(scalar(grep { /\b\Q$n\E\.test\b/ } @reg), 0, "$n.test: the module did not register it");
}
my @st = responder_requests(serial => leaf_serial('stapling'));
SKIP: {
    skip 'stand-in run', 2 if standin();
    ok(scalar(grep { $_->{method} eq 'POST' } @st), "stapling.test: mod_ssl fetched it (POST)");
    is(scalar(grep { $_->{method} eq 'GET' } @st), 0, "stapling.test: the module never fetched it (no GET)")
        or diag(join "\n", map { $_->{line} } @st);
}
