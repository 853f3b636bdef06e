# Status page, JSON and HTML (issue 4, items 1 and 5).
# One private server with a plain-http loopback vhost serving the
# ocsp-prefetch-status handler, and five TLS vhosts in the four states:
#   good     good.test, responder in good mode           -> good
#   xss      a subject with markup (<script>...&co), good -> good
#   revoked  revoked.test (the responder's index says R)  -> revoked
#   down     OCSPPrefetchResponder on a dead loopback port -> none, failing
#   nourl    no OCSP URL                                   -> no_url
# ?json is parsed (strict UTF-8 JSON) and compared with the real state:
# the summary counts, and per certificate key (SHA-256 of the DER), subject,
# serial, vhosts, responder, status, thisUpdate/nextUpdate (equal to those
# of the staple a client receives), response_size (the staple's DER length),
# seconds_to_expiry, last attempt/result/error, failures, next_refresh (in
# the future), per-certificate and total fetch counters, latency histogram.
# The HTML page: 200 text/html, every subject/serial/vhost present and
# escaped, no raw '<script'. Only GET is allowed.
use strict;
use warnings;
use FindBin; use lib "$FindBin::Bin/../lib";
use Apache::Test qw(-withtestmore);
use Time::HiRes qw(time);
use List::Util qw(min sum);
use OCSPTest qw(module_built free_port responder_port leaf_serial top_dir slurp);
use OCSPTest::Httpd;
use OCSPTest::Client qw(verify_staple);
use OCSPTest::Persist qw(store_key);
use OCSPTest::Status qw(status_vhost http_get status_json rfc3339 html_escape);

plan tests => 27, need { 'module not built (stand-in run)' => module_built() };

my $rp = responder_port();
my $dead = free_port();          # nothing listens there: connection refused
my $sport = free_port();
my %SUBJ = map { $_ => "CN=$_.test,O=OCSP Prefetch Test" } qw(good revoked down nourl);
$SUBJ{xss} = 'CN=\\<script\\>alert(1)\\</script\\>&co,O=OCSP Prefetch Test';

my $h = OCSPTest::Httpd->new(name => 't23-json',
    global => status_vhost($sport),
    vhosts => [
        { name => 'good',    conf => "OCSPPrefetch on\n" },
        { name => 'xss',     conf => "OCSPPrefetch on\n" },
        { name => 'revoked', conf => "OCSPPrefetch on\n" },
        { name => 'down',    conf => "OCSPPrefetch on\nOCSPPrefetchResponder http://127.0.0.1:$dead/good/\n" },
        { name => 'nourl',   conf => "OCSPPrefetch on\n" },
    ]);
my $t_start = time;
$h->start;

# what clients really get
my %S;
for my $n (qw(good xss revoked down nourl)) {
    my $g = $h->staple($n);
    $S{$n} = { der => $g->{der}, v => ($g->{der} ? verify_staple($g->{der}, $n) : undef) };
}
ok($S{good}{v} && $S{good}{v}{verify_ok} && ($S{good}{v}{status} // '') eq 'good'
   && $S{xss}{v} && ($S{xss}{v}{status} // '') eq 'good'
   && $S{revoked}{v} && ($S{revoked}{v}{status} // '') eq 'revoked'
   && !defined $S{down}{der} && !defined $S{nourl}{der},
   'real state: good and xss stapled good, revoked stapled revoked, down and nourl without staple')
    or diag(explain({ map { $_ => ($S{$_}{v} ? $S{$_}{v}{status} : 'none') } keys %S }));

my ($j, $resp) = eval { status_json($sport) };
ok($j, 'GET /ocsp-status?json: 200, strictly valid UTF-8 JSON') or diag($@);
$j ||= {};
my $now = time;
like($resp && $resp->{headers}{'content-type'} // '', qr{^application/json\b}, '... Content-Type application/json');
is($resp && $resp->{headers}{'cache-control'}, 'no-store', '... Cache-Control: no-store');

# --- top level
my ($pkgver) = (slurp(top_dir() . '/configure.ac') // '') =~ /AC_INIT\(\[[^\]]*\],\s*\[([^\]]+)\]/;
my $gen = eval { rfc3339($j->{generated}) };
my $started = eval { rfc3339($j->{started}) };
ok(defined $j->{version} && !ref $j->{version} && defined $pkgver && index($j->{version}, $pkgver) >= 0,
   "version is a string naming the module's version $pkgver") or diag("version: " . ($j->{version} // 'undef'));
ok(defined $gen && abs($gen - $now) <= 3, 'generated: RFC 3339 UTC, now') or diag("generated $j->{generated}");
ok(defined $started && $started >= int($t_start) - 1 && $started <= $gen,
   'started: RFC 3339 UTC, when this server started') or diag("started " . ($j->{started} // 'undef'));
$gen //= int $now;

# --- certificates
my @certs = @{ $j->{certificates} || [] };
my %by;
for my $c (@certs) {
    for my $n (keys %SUBJ) { $by{$n} = $c if ($c->{serial} // '') eq leaf_serial($n) }
}
is(scalar(@certs), 5, 'five certificates listed');
is_deeply([ sort map { $_->{key} // '' } @certs ], [ sort map { store_key($_) } keys %SUBJ ],
          'keys: the SHA-256 of each certificate (lower-case hex)');

my @REASONS = qw(connect timeout http responder_status invalid cache dns proxy helper);
my %zero = map { $_ => 0 } @REASONS;
for my $n (qw(good xss revoked)) {
    my $c = $by{$n} || {};
    my $v = $S{$n}{v} || {};
    subtest "$n: stapled ($n.test)" => sub {
        plan tests => 19;
        is($c->{subject}, $SUBJ{$n}, 'subject (RFC 2253)');
        is($c->{serial}, leaf_serial($n), 'serial');
        is_deeply($c->{vhosts}, ["$n.test"], 'vhosts');
        is($c->{responder}, "http://127.0.0.1:$rp/good/", 'responder: the AIA URL');
        ok(JSON::PP::is_bool($c->{must_staple}) && !$c->{must_staple}, 'must_staple: false');
        is($c->{status}, $n eq 'revoked' ? 'revoked' : 'good', 'status');
        is(eval { rfc3339($c->{this_update}) }, $v->{this_epoch}, "this_update = the staple's thisUpdate");
        is(eval { rfc3339($c->{next_update}) }, $v->{next_epoch}, "next_update = the staple's nextUpdate");
        ok(defined $c->{seconds_to_expiry} && defined $v->{next_epoch}
           && grep({ $c->{seconds_to_expiry} == $_ } $v->{next_epoch} - $gen - 1, $v->{next_epoch} - $gen),
           'seconds_to_expiry = next_update - generated (rounded down: generated has a fraction)')
            or diag("seconds_to_expiry " . ($c->{seconds_to_expiry} // 'null'));
        is($c->{response_size}, length($S{$n}{der} // ''), "response_size = the staple's DER length");
        my $la = eval { rfc3339($c->{last_attempt}) };
        ok(defined $la && $la >= int($t_start) - 1 && $la <= $gen, 'last_attempt: since start');
        is($c->{last_result}, 'ok', 'last_result ok');
        ok(exists $c->{last_error} && !defined $c->{last_error}, 'last_error null');
        is($c->{failures}, 0, 'failures 0');
        my $nr = eval { rfc3339($c->{next_refresh}) };
        ok(defined $nr && $nr > $gen && $nr < ($v->{next_epoch} // 0), 'next_refresh in the future, before next_update')
            or diag("next_refresh " . ($c->{next_refresh} // 'null'));
        ok(($c->{fetches}{ok} // 0) >= 1, 'fetches.ok >= 1');
        is_deeply($c->{fetches}{failed}, \%zero, 'fetches.failed: all nine reasons (dns, proxy and helper included), 0');
        ok($v->{verify_ok}, 'the staple verifies');
        is($c->{key}, store_key($n), 'key');
    };
}

{
    my $c = $by{down} || {};
    subtest 'down: responder down (dead port)' => sub {
        plan tests => 14;
        is($c->{subject}, $SUBJ{down}, 'subject');
        is_deeply($c->{vhosts}, ['down.test'], 'vhosts');
        is($c->{responder}, "http://127.0.0.1:$dead/good/", 'responder: the OCSPPrefetchResponder URL');
        is($c->{status}, 'none', 'status none');
        ok(!grep({ defined $c->{$_} } qw(this_update next_update seconds_to_expiry response_size))
           && !grep({ !exists $c->{$_} } qw(this_update next_update seconds_to_expiry response_size)),
           'this_update, next_update, seconds_to_expiry, response_size: null');
        my $la = eval { rfc3339($c->{last_attempt}) };
        ok(defined $la && $la >= int($t_start) - 1 && $la <= $gen, 'last_attempt set');
        is($c->{last_result}, 'failed', 'last_result failed');
        like($c->{last_error} // '', qr/refused/i, 'last_error says the connection was refused');
        like($c->{last_error} // '', qr/127\.0\.0\.1:$dead\b/, '... and names the responder');
        ok(($c->{failures} // 0) >= 1, "failures >= 1 ($c->{failures})");
        my $nr = eval { rfc3339($c->{next_refresh}) };
        ok(defined $nr && $nr > $gen, 'next_refresh in the future') or diag("next_refresh " . ($c->{next_refresh} // 'null') . " generated $j->{generated}");
        is($c->{fetches}{ok}, 0, 'fetches.ok 0');
        ok(($c->{fetches}{failed}{connect} // 0) >= ($c->{failures} // 1), 'fetches.failed.connect >= failures');
        is(sum(map { $c->{fetches}{failed}{$_} // 0 } grep { $_ ne 'connect' } @REASONS), 0, 'no other failure reason');
    };
}

{
    my $c = $by{nourl} || {};
    subtest 'nourl: no OCSP URL' => sub {
        plan tests => 8;
        is($c->{subject}, $SUBJ{nourl}, 'subject');
        is_deeply($c->{vhosts}, ['nourl.test'], 'vhosts');
        is($c->{status}, 'no_url', 'status no_url');
        ok(exists $c->{responder} && !defined $c->{responder}, 'responder null');
        my @null = qw(this_update next_update seconds_to_expiry response_size last_attempt last_result last_error next_refresh);
        ok(!grep({ !exists $c->{$_} || defined $c->{$_} } @null), "@null: null");
        is($c->{failures}, 0, 'failures 0');
        is($c->{fetches}{ok}, 0, 'fetches.ok 0');
        is_deeply($c->{fetches}{failed}, \%zero, 'fetches.failed all 0');
    };
}

# --- summary
my $s = $j->{summary} || {};
is_deeply({ map { $_ => $s->{$_} } qw(total good revoked none no_url failing must_staple_missing) },
          { total => 5, good => 2, revoked => 1, none => 1, no_url => 1, failing => 1, must_staple_missing => 0 },
          'summary: total 5 = good 2 + revoked 1 + none 1 + no_url 1; failing 1; must_staple_missing 0');
my $earliest = min(map { $S{$_}{v}{next_epoch} // 9e9 } qw(good xss revoked));
is(eval { rfc3339($s->{earliest_next_update}) }, $earliest, 'summary.earliest_next_update: the earliest staple nextUpdate');
ok(defined $s->{earliest_expiry_seconds} && grep({ $s->{earliest_expiry_seconds} == $_ } $earliest - $gen - 1, $earliest - $gen),
   'summary.earliest_expiry_seconds = that - generated (rounded down)') or diag("got " . ($s->{earliest_expiry_seconds} // 'null'));

# --- fetch totals
my $f = $j->{fetches} || {};
is($f->{ok}, sum(map { $_->{fetches}{ok} // 0 } @certs), 'fetches.ok = the sum over certificates');
is_deeply($f->{failed}, { map { my $r = $_; $r => sum(map { $_->{fetches}{failed}{$r} // 0 } @certs) } @REASONS },
          'fetches.failed: per reason, the sum over certificates');
{
    my $l = $f->{latency_seconds} || {};
    my @b = qw(0.05 0.1 0.25 0.5 1 2.5 5 10 30 +Inf);
    my @v = map { $l->{buckets}{$_} } @b;
    my $cum = !grep({ !defined } @v) && !grep({ $v[$_] < $v[$_ - 1] } 1 .. $#v);
    my $failed = sum(values %{ $f->{failed} || {} }) // 0;
    ok(keys(%{ $l->{buckets} || {} }) == @b && $cum && $l->{buckets}{'+Inf'} == $l->{count}
       && $l->{count} == ($f->{ok} // 0) + $failed && $l->{sum} >= 0,
       "latency: the 10 documented buckets, cumulative, +Inf = count = ok + failed ($l->{count})")
        or diag(explain($l));
}

# --- HTML
{
    my $r = http_get($sport, '/ocsp-status');
    my $b = $r->{content} // '';
    ok($r->{status} == 200 && ($r->{headers}{'content-type'} // '') =~ m{^text/html\b},
       'HTML page: 200 text/html') or diag("$r->{status} " . ($r->{headers}{'content-type'} // ''));
    my @miss = grep { index($b, html_escape($SUBJ{$_})) < 0 || index($b, leaf_serial($_)) < 0 || index($b, "$_.test") < 0 }
               sort keys %SUBJ;
    ok(!@miss, 'every certificate is on the page: escaped subject, serial, vhost') or diag("missing: @miss");
    ok($b !~ /<script/i && index($b, '&lt;script') >= 0,
       "the hostile subject is escaped (&lt;script...), no raw '<script' on the page");
}

# --- methods
{
    my $r = http_get($sport, '/ocsp-status?json', method => 'POST');
    is($r->{status}, 405, 'POST: 405 Method Not Allowed');
}

# --- a graceful restart: the new generation's table, from the staples carried over
{
    $h->graceful;
    my $j2 = eval { status_json($sport) } || {};
    my %b2 = map { $_->{serial} => $_ } @{ $j2->{certificates} || [] };
    my @diff = grep { my $o = $by{$_} || {}; my $n = $b2{leaf_serial($_)} || {};
                      grep { ($o->{$_} // '') ne ($n->{$_} // '') } qw(status this_update next_update response_size key subject responder) }
               qw(good xss revoked down nourl);
    ok(!@diff && @{ $j2->{certificates} || [] } == 5, 'after a graceful restart: each certificate keeps its status, this/next_update, response_size')
        or diag("differ: @diff\n" . explain($j2));
    is_deeply({ map { $_ => $j2->{summary}{$_} } qw(total good revoked none no_url failing) },
              { total => 5, good => 2, revoked => 1, none => 1, no_url => 1, failing => 1 }, '... and the same summary');
    my $st2 = eval { rfc3339($j2->{started}) };
    ok(defined $st2 && $st2 >= ($started // 0) && ($j2->{fetches}{ok} // -1) == 0,
       "... 'started' is the new generation's, the fetch counters start from zero");
}

$h->stop;
