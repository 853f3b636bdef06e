# First handshake after start carries a good staple that verifies;
# revoked.test's staple says revoked.
use strict;
use warnings;
use FindBin; use lib "$FindBin::Bin/../lib";
use Apache::Test qw(-withtestmore);
use OCSPTest qw(standin);
use OCSPTest::Main qw(staple wait_staple);

plan tests => 11;
diag("STAND-IN mode: mod_ssl's SSLUseStapling serves these vhosts") if standin();

# The very first handshake to good.test: the server is up, the prefetch thread
# had its StartupWait, so the staple must be there at once (no polling).
my ($g, $v) = staple('good');
ok($g->{ok}, 'handshake to good.test succeeds') or diag($g->{error});
is($g->{cert_cn}, 'good.test', 'SNI selected good.test certificate');
ok(defined $g->{der}, 'first handshake carries a staple');
SKIP: {
    skip 'no staple', 4 unless $v;
    ok($v->{verify_ok}, 'staple verifies (Response verify OK)') or diag($v->{text});
    is($v->{status}, 'good', 'certificate status good');
    ok($v->{next_epoch} && $v->{next_epoch} > time, 'nextUpdate in the future');
    ok($v->{this_epoch} && $v->{this_epoch} <= time + 60, 'thisUpdate not in the future');
}

# revoked.test: poll (bounded) in case the first handshake was the very first
($g, $v) = wait_staple('revoked', 15);
ok($g->{ok}, 'handshake to revoked.test succeeds') or diag($g->{error});
ok(defined $g->{der}, 'revoked.test gets a staple');
SKIP: {
    skip 'no staple', 2 unless $v;
    ok($v->{verify_ok}, 'revoked staple verifies') or diag($v->{text});
    is($v->{status}, 'revoked', 'staple says revoked');
}
