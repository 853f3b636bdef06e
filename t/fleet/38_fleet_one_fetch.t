# One fetch per fleet (issue 15, item 3): two servers sharing a redis
# fleet cache and a certificate renew it by turns: before each renewal a
# server peeks at the shared record, and when its peer already published a
# newer response it validates (in its helper) and adopts it instead of
# asking the CA.
#
# 60-second responses (/short/), OCSPPrefetchRenewWindow 50s: a renewal
# about every 5 to 10 s per server (the renew time is jittered). Server A
# starts and fetches; server B starts from the shared record (no fetch).
# Over 45 s every renewal of either server is a fetch or an adoption
# (counted from the responder's log and the servers' debug lines): at
# least 3 adoptions, and the fetches are at most 75% of the renewals (2
# servers: about half, when no two renewals race; without peeks, 100%). Both keep stapling a
# good response that verifies; the status page counts the adoptions.
# Then the peer's record is replaced by a forged one (another certificate's
# response under this key, dated newer): it is refused by validation, the
# server fetches itself and keeps stapling.
# Teeth: with hooks.peek unset, no adoption and every renewal a fetch
# (tests 3 and 4 fail).
use strict;
use warnings;
use FindBin; use lib "$FindBin::Bin/../lib";
use Apache::Test qw(-withtestmore);
use Time::HiRes qw(time sleep);
use OCSPTest qw(module_built wait_until responder_port responder_log free_port log_size leaf_serial);
use OCSPTest::Httpd;
use OCSPTest::KV;
use OCSPTest::Client qw(get_staple verify_staple);
use OCSPTest::Status qw(status_vhost status_json);

plan tests => 9, need {
    'module not built (stand-in run)' => module_built(),
    'redis-server (Debian package) needed' => OCSPTest::KV::have('redis'),
};

my $rp = responder_port();
my $kv = OCSPTest::KV->start('redis');
my $serial = leaf_serial('short');

sub server {
    my ($name, $sport) = @_;
    return OCSPTest::Httpd->new(name => $name, mpm => 'event',
        preload => "LoadModule socache_redis_module $OCSPTest::Httpd::MODDIR/mod_socache_redis.so\n",
        global => "OCSPPrefetchCache " . $kv->spec . "\nOCSPPrefetchRenewWindow 50s\n"
                . "OCSPPrefetchRetryDelay 1s 2s\n" . status_vhost($sport),
        vhosts => [ { name => 'short', port => free_port(),
                      conf => "OCSPPrefetch on\nOCSPPrefetchResponder http://127.0.0.1:$rp/short/\n" } ]);
}
sub good_staple {
    my $h = shift;
    my $g = $h->staple('short', timeout => 3);
    return 0 unless $g->{ok} && defined $g->{der};
    my $v = verify_staple($g->{der}, 'short');
    return $v->{verify_ok} && ($v->{status} // '') eq 'good';
}

my ($sa, $sb) = (free_port(), free_port());
my $a = server('fleet-one-a', $sa);
my $b = server('fleet-one-b', $sb);
$a->start;
ok(wait_until(10, sub { good_staple($a) }, 0.25), 'server A staples a good response');
wait_until(10, sub { OCSPTest::KV::decode_record($kv->get(OCSPTest::KV::fleet_key('short'))) }, 0.1);
$b->start;
ok(wait_until(10, sub { good_staple($b) }, 0.25), 'server B staples a good response');

# --- 45 s of renewals --------------------------------------------------------
my $roff = log_size(responder_log());
my ($aoff, $boff) = (log_size($a->error_log), log_size($b->error_log));
sleep 45;
my $fetches = OCSPTest::count_requests(off => $roff, mode => 'short', serial => $serial);
my $adopted = 0;
for ([$a, $aoff], [$b, $boff]) {
    my ($h, $off) = @$_;
    $adopted += () = OCSPTest::log_lines($h->error_log, qr/with a peer's response from the fleet cache/, $off);
}
my $renewals = $fetches + $adopted;
ok($adopted >= 3, "renewals adopt the peer's response ($adopted adoptions, $fetches fetches in 45 s)");
# Two servers: about half; a renewal both fetch happens when their jittered
# renewal times fall within one fetch-and-publish of each other (a few
# hundred ms on a loaded machine, against a spread of up to 5 s). Without
# the peek every renewal is a fetch (100%).
ok($renewals > 0 && $fetches <= 0.75 * $renewals,
   sprintf('one fetch per fleet: %d of %d renewals were fetches (%.0f%%)', $fetches, $renewals,
           $renewals ? 100 * $fetches / $renewals : 0));
ok(good_staple($a) && good_staple($b), 'both servers still staple a good response that verifies');
# the status pages count every adoption of the generation: compare with
# the logs' whole count, read back to back (one may happen in between)
my ($counted, $logged) = (-1, -2);
wait_until(10, sub {
    my ($ja, $jb) = map { eval { status_json($_) } || {} } $sa, $sb;
    $counted = 0;
    $counted += $_->{adopted} // 0 for map { @{ $_->{certificates} || [] } } $ja, $jb;
    $logged = 0;
    $logged += () = OCSPTest::log_lines($_->error_log, qr/with a peer's response from the fleet cache/, 0)
        for $a, $b;
    $counted == $logged;
}, 0.1);
is($counted, $logged, "the status pages count the adoptions at renewals ($counted)");

# --- a forged, newer record is validated and refused -------------------------
my $key = OCSPTest::KV::fleet_key('short');
# another certificate's genuine response, from a server of its own
my $g = OCSPTest::Httpd->new(name => 'fleet-one-decoy', mpm => 'event',
    vhosts => [ { name => 'dflt', conf => "OCSPPrefetch on\nOCSPPrefetchResponder http://127.0.0.1:$rp/good/\n" } ]);
$g->start;
my $dflt = $g->staple('dflt', timeout => 3)->{der};
$g->stop;
$boff = log_size($b->error_log);
$roff = log_size(responder_log());
my $forge = sub {
    $kv->set($key, OCSPTest::KV::encode_record(status => 0, this => int((time + 60) * 1e6),
        next => int((time + 3600) * 1e6), key => OCSPTest::KV::cert_key('short'), der => $dflt // 'x'));
};
# keep the forged record in place while B renews (A would overwrite it)
$a->stop;
my $end = time + 20;
my $refused;
while (time < $end) {
    $forge->();
    $refused = OCSPTest::log_lines($b->error_log, qr/not using the peer's OCSP response/, $boff);
    last if $refused;
    sleep 0.2;
}
ok($refused, 'server B refuses a forged record (another certificate\'s response, dated newer)')
    or diag($b->log_tail);
ok(wait_until(10, sub { OCSPTest::count_requests(off => $roff, mode => 'short', serial => $serial) }, 0.2),
   '... and fetches from its responder instead');
ok(good_staple($b), '... and keeps stapling a good response of its own');
$b->stop;
$kv->stop;
