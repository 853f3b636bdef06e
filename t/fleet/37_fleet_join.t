# Joining a fleet (issue 15, item 4): a server with no state at all (no
# store, cold start) whose peer filled the shared cache starts with every
# certificate stapled from there, asks its (failing) responder nothing,
# and logs no failure; what it adopts is validated first (the shared cache
# is not trusted): a record carrying another certificate's response under
# a certificate's key is refused, that certificate is fetched.
#
# For redis and memcache: server A (event MPM) staples eleven names and
# publishes them.  Server B, same certificates, its responder URL a mode
# that answers HTTP 500 (every fetch would fail, and be logged), starts
# cold: all eleven stapled byte for byte as A staples them at the first
# handshake, zero requests to its responder, "11 from the fleet" in the
# startup line, no "failing" line, source "fleet" for each on the status
# page and 11 in ocsp_prefetch_certificates_by_source{source="fleet"}.  Server C, after an attacker replaced
# one record: ten adopted, the eleventh refused ("not using the OCSP
# response from the fleet cache"), fetched (and failing: no staple).
# Teeth: without seed_from_fleet, B asks the responder for each name and
# staples nothing (tests 4-7 fail).
use strict;
use warnings;
use FindBin; use lib "$FindBin::Bin/../lib";
use Apache::Test qw(-withtestmore);
use Time::HiRes qw(time sleep);
use OCSPTest qw(module_built wait_until responder_port responder_log free_port log_size leaf_serial);
use OCSPTest::Httpd;
use OCSPTest::KV;
*cert_key = \&OCSPTest::KV::cert_key;
*fleet_key = \&OCSPTest::KV::fleet_key;
*decode_record = \&OCSPTest::KV::decode_record;
*encode_record = \&OCSPTest::KV::encode_record;
use OCSPTest::Client qw(get_staple verify_staple);
use OCSPTest::Status qw(status_vhost http_get status_json);

my @KINDS = grep { OCSPTest::KV::have($_) } qw(redis memcache);
my $PER_KIND = 13;
plan tests => 2 * $PER_KIND, need {
    'module not built (stand-in run)' => module_built(),
    'redis-server and memcached (Debian packages) both needed' => @KINDS == 2,
};

my $rp = responder_port();
my @NAMES = qw(good dflt get post shared persist store1 store2 mda mdb msplain);

sub server {
    my ($name, $kv, $mode, $port, $extra) = @_;
    return OCSPTest::Httpd->new(name => $name, mpm => 'event',
        preload => "LoadModule socache_${\ $kv->kind }_module $OCSPTest::Httpd::MODDIR/mod_socache_${\ $kv->kind }.so\n",
        global => "OCSPPrefetchCache " . $kv->spec . "\nOCSPPrefetchStartupWait 20s\n" . ($extra // ''),
        vhosts => [ map { { name => $_, port => $port,
            conf => "OCSPPrefetch on\nOCSPPrefetchResponder http://127.0.0.1:$rp/$mode/\n" } } @NAMES ]);
}

for my $kind (qw(redis memcache)) {
    my $kv = OCSPTest::KV->start($kind);
    my $label = $kind;

    # --- A fills the shared cache ----------------------------------------
    my $a = server("fleet-join-$kind-a", $kv, 'good', free_port());
    $a->start;
    my %want;
    wait_until(20, sub {
        for my $n (@NAMES) {
            next if $want{$n};
            my $g = $a->staple($n, timeout => 3);
            next unless $g->{ok} && defined $g->{der};
            my $v = verify_staple($g->{der}, $n);
            $want{$n} = $g->{der} if $v->{verify_ok} && ($v->{status} // '') eq 'good';
        }
        keys(%want) == @NAMES;
    }, 0.25);
    is(scalar(keys %want), scalar @NAMES, "$label: server A staples every name");
    my $published = wait_until(10, sub {
        !grep { my $r = decode_record($kv->get(fleet_key($_))); !$r || $r->{der} ne $want{$_} } @NAMES;
    }, 0.2);
    ok($published, "$label: server A published every response");
    $a->stop;

    # --- B joins cold, its responder failing --------------------------------
    my $roff = log_size(responder_log());
    my $sport = free_port();
    my $b = server("fleet-join-$kind-b", $kv, 'http500', free_port(), status_vhost($sport));
    my $secs = $b->start;
    ok($secs < 8, sprintf("$label: server B starts without waiting for fetches (%.1f s)", $secs));
    my %got = map { my $g = $b->staple($_, timeout => 3); ($_ => $g->{der} // '') } @NAMES;
    my @same = grep { $got{$_} eq $want{$_} } @NAMES;
    is(scalar @same, scalar @NAMES, "$label: server B staples every name at once, as A did")
        or diag('not: ' . join ' ', grep { $got{$_} ne $want{$_} } @NAMES);
    sleep 1;
    # its certificates' serials: the suite's main server has an http500
    # vhost of its own that retries now and then
    my $asked_b = 0;
    $asked_b += OCSPTest::count_requests(off => $roff, mode => 'http500', serial => leaf_serial($_)) for @NAMES;
    is($asked_b, 0, "$label: server B sent no OCSP request");
    my @summary = $b->log_lines(qr/started: 11 certificates: 11 from the previous generation or the store or the fleet cache \(11 from the fleet\)/);
    ok(scalar @summary, "$label: server B's startup line: 11 from the fleet")
        or diag(join "\n", $b->log_lines(qr/started:/));
    my @adopt = $b->log_lines(qr/stapling the OCSP response from the fleet cache \(good/);
    my @fail = $b->log_lines(qr/failing:|not using the OCSP response/);
    ok(@adopt == 11 && !@fail, "$label: server B logs 11 adoptions and no failure")
        or diag(join "\n", @fail[0 .. ($#fail < 4 ? $#fail : 4)]);
    my $j = eval { status_json($sport) } || {};
    my @src = map { $_->{source} // 'null' } @{ $j->{certificates} || [] };
    ok(@src == 11 && !grep({ $_ ne 'fleet' } @src),
       "$label: server B's status page: source \"fleet\" for each") or diag("sources: @src");
    my $prom = http_get($sport, '/ocsp-status?prometheus');
    like($prom->{content} // '', qr/^ocsp_prefetch_certificates_by_source\{source="fleet"\} 11$/m,
         "$label: ... and its metrics count 11 adoptions");
    $b->stop;

    # --- C: a record someone replaced is validated, refused ------------------
    my $rec = decode_record($kv->get(fleet_key('good')));
    my $forged = encode_record(status => 0, this => $rec->{this}, next => $rec->{next},
                               key => cert_key('good'), der => $want{dflt});
    ok($kv->set(fleet_key('good'), $forged), "$label: an attacker writes dflt's response under good's key");
    $roff = log_size(responder_log());
    my $c = server("fleet-join-$kind-c", $kv, 'http500', free_port());
    $c->start;
    my $gc = $c->staple('good', timeout => 3);
    my $gd = $c->staple('dflt', timeout => 3);
    ok(!defined $gc->{der} && ($gd->{der} // '') eq $want{dflt},
       "$label: server C does not staple the forged record (dflt, untouched, is adopted)");
    my @refused = $c->log_lines(qr/good\.test.*not using the OCSP response from the fleet cache/);
    ok(scalar @refused, "$label: server C says why it refused it") or diag($c->log_tail);
    my $asked = wait_until(10, sub {
        OCSPTest::count_requests(off => $roff, mode => 'http500', serial => OCSPTest::leaf_serial('good')) });
    ok($asked, "$label: ... and fetches that certificate itself");
    $c->stop;
    $kv->stop;
}
