# The certificate without an OCSP URL: exactly one INFO line "has no OCSP
# responder URL" naming it, no error, server up, no staple.
use strict;
use warnings;
use FindBin; use lib "$FindBin::Bin/../lib";
use Apache::Test qw(-withtestmore);
use OCSPTest qw(module_built wait_until slurp);
use OCSPTest::Main qw(staple error_log);

plan tests => 7, need { 'module not built (stand-in run)' => module_built() };

sub log_lines { split /\n/, (slurp(error_log()) // '') }

# Let the prefetcher run a few rounds first: wait until a failing certificate
# (garbage.test, retried every 1-5 s) has been logged at least 3 times, so a
# per-round repetition of the no-URL line would show up.
my $rounds = wait_until(30, sub {
    (grep { /\bgarbage\.test\b/ && /rejected|fail/i } log_lines()) >= 3 }, 0.25);
ok($rounds, 'prefetcher has run several rounds (garbage.test retried 3 times)');

my @nourl = grep { /has no OCSP responder URL/ } log_lines();
my @mine  = grep { /\bnourl\.test\b/ } @nourl;
is(scalar @mine, 1, 'exactly one "has no OCSP responder URL" line naming nourl.test')
    or diag(join "\n", @nourl);
like($mine[0] // '', qr/\[ocsp_prefetch:info\]/, '... at level info');
is(scalar(grep { !/\bnourl\.test\b/ } @nourl), 0, 'no such line for any other certificate')
    or diag(join "\n", @nourl);
my @err = grep { /\bnourl\.test\b/ && /:(error|crit|alert|emerg)\]/ } log_lines();
is(scalar @err, 0, 'no error-level line about nourl.test') or diag(join "\n", @err);

my @g = map { (staple('nourl'))[0] } 1 .. 2;
ok(!(grep { !$_->{ok} } @g), 'server up: handshakes to nourl.test succeed');
ok(!(grep { defined $_->{der} } @g), 'nourl.test gets no staple');
