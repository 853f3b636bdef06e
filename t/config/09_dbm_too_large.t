# OCSPPrefetchCache dbm: a small response (~0.8 KB) is stapled from the dbm
# cache; a big one (~2.6 KB: extra certificates embedded) does not fit dbm's
# 950-byte records: no staple, and the error log says so clearly, exactly once
# for that certificate although it is refetched every round (60 s responses,
# 58 s renew window: a round every 1-2 s).  With the default shmcb cache the
# same big response is stapled.
use strict;
use warnings;
use FindBin; use lib "$FindBin::Bin/../lib";
use Apache::Test qw(-withtestmore);
use OCSPTest qw(module_built wait_until responder_port leaf_serial count_requests
                log_lines);
use OCSPTest::Httpd;
use OCSPTest::Client qw(verify_staple);

plan tests => 17, need { 'module not built (stand-in run)' => module_built() };

my $rp = responder_port();
my $MODDIR = $OCSPTest::Httpd::MODDIR;
my $ROUNDS = 4;
my ($small, $big) = (leaf_serial('dbmsmall'), leaf_serial('dbmbig'));

# --- dbm
my $cache = OCSPTest::work_dir() . "/servers/dbm/logs/opf-cache";
my $d = OCSPTest::Httpd->new(name => 'dbm',
    global => "LoadModule socache_dbm_module $MODDIR/mod_socache_dbm.so\n"
            . "OCSPPrefetchCache dbm:$cache\n"
            . "OCSPPrefetchRenewWindow 58s\nOCSPPrefetchRetryDelay 1s 1s\n",
    vhosts => [
        { name => 'dbmsmall', conf => "OCSPPrefetch on\nOCSPPrefetchResponder http://127.0.0.1:$rp/short/\n" },
        { name => 'dbmbig',   conf => "OCSPPrefetch on\nOCSPPrefetchResponder http://127.0.0.1:$rp/big+short/\n" },
    ]);
my $roff = -s OCSPTest::responder_log() || 0;
$d->start;

# the small one: stapled from dbm, verifies
my $g = $d->first_handshake;
ok($g && defined $g->{der}, 'dbm: first handshake to dbmsmall.test carries a staple');
my $v = $g && $g->{der} ? verify_staple($g->{der}, 'dbmsmall') : {};
ok($v->{verify_ok} && ($v->{status} // '') eq 'good', '... it verifies and says good') or diag($v->{text} // '');
ok($g && $g->{der} && length($g->{der}) < 900, '... and is small (' . length($g->{der} // '') . ' bytes)');

# several refresh rounds of the big one
my $n = 0;
wait_until(30, sub { $n = count_requests(off => $roff, serial => $big, status => 200); $n >= $ROUNDS }, 0.25);
ok($n >= $ROUNDS, "dbm: the big response was fetched in $n rounds (want >= $ROUNDS)");
ok(count_requests(off => $roff, serial => $small, status => 200) >= 2,
   'dbm: the small response was refreshed too');

# the big one never gets a staple
my @g = map { $d->staple('dbmbig') } 1 .. 3;
ok(!(grep { !$_->{ok} } @g), 'dbm: handshakes to dbmbig.test succeed');
ok(!(grep { defined $_->{der} } @g), 'dbm: dbmbig.test gets no staple');
$g = $d->staple('dbmsmall');
ok(defined $g->{der}, 'dbm: dbmsmall.test still stapled after the refresh rounds');

my @too = log_lines($d->error_log, qr/does not fit|too large|cannot store/i);
my @bigl = grep { /\bdbmbig\.test\b/ } @too;
is(scalar @bigl, 1, "dbm: exactly one 'does not fit' line for dbmbig.test after $n rounds")
    or diag(join "\n", @too);
like($bigl[0] // '', qr/does not fit/, "... saying it does not fit");
like($bigl[0] // '', qr/\bdbm\b/, '... naming the dbm cache');
like($bigl[0] // '', qr/\b(2\d{3}|1\d{3})-byte\b/, '... with the response size');
is(scalar(grep { /\bdbmsmall\.test\b/ } @too), 0, 'dbm: no such line for dbmsmall.test');
ok($d->stop, 'dbm: server stops');

# --- default shmcb: the big response is stapled
my $s = OCSPTest::Httpd->new(name => 'dbm-shmcb',
    vhosts => [ { name => 'dbmbig', conf => "OCSPPrefetch on\nOCSPPrefetchResponder http://127.0.0.1:$rp/big/\n" } ]);
$s->start;
$g = $s->first_handshake;
ok($g && defined $g->{der} && length($g->{der}) > 2000,
   'shmcb: first handshake to dbmbig.test carries the big staple (' . length($g->{der} // '') . ' bytes)');
$v = $g && $g->{der} ? verify_staple($g->{der}, 'dbmbig') : {};
ok($v->{verify_ok} && ($v->{status} // '') eq 'good', '... it verifies and says good') or diag($v->{text} // '');
ok($s->stop, 'shmcb: server stops');
