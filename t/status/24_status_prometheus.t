# Status page, Prometheus format and mod_status (issue 4, items 1, 2, 5).
# One private server (mod_status loaded) with a plain-http loopback vhost
# serving /ocsp-status and /server-status, and TLS vhosts:
#   good, xss (subject with markup and backslashes), revoked   stapled
#   short     60 s responses, RenewWindow 58s: a fetch every ~2 s
#   down      dead loopback port         -> failures by reason "connect"
#   garbage   responder garbage mode     -> "invalid"
#   http500   responder http500 mode     -> "http"
#   nourl     no OCSP URL
#   nodns     responder host ocsp-prefetch-test.invalid -> "dns"
# ?prometheus and ?metrics are parsed strictly (every sample line
# `name{labels} value`, # TYPE before a family's samples, one group per
# family, label escapes), the gauges per state and the per-certificate
# series match ?json, fetches_total{result="ok"} and each failure reason
# grow over time, the latency histogram is cumulative with +Inf = _count.
# Per-certificate series carry key (the certificate's SHA-256, as in the
# JSON) besides serial and subject; certificate_state has, per certificate,
# one series per state, 1 for the JSON status; DNS failures have a reason
# of their own ("dns", an unresolvable .invalid responder host).
# /server-status shows the module's section; /server-status?auto has the
# OCSPPrefetch* lines with the same numbers.
use strict;
use warnings;
use FindBin; use lib "$FindBin::Bin/../lib";
use Apache::Test qw(-withtestmore);
use Time::HiRes qw(time);
use List::Util qw(sum);
use OCSPTest qw(module_built free_port responder_port leaf_serial wait_until);
use OCSPTest::Httpd;
use OCSPTest::Status qw(status_vhost status_preload http_get status_json
                        parse_prometheus prom_value prom_samples html_escape);

plan tests => 32, need { 'module not built (stand-in run)' => module_built() };

my $rp = responder_port();
my $dead = free_port();
my $sport = free_port();
my @NAMES = qw(good xss revoked short down garbage http500 nourl nodns);
my %URL = (short => "http://127.0.0.1:$rp/short/", down => "http://127.0.0.1:$dead/good/",
           garbage => "http://127.0.0.1:$rp/garbage/", http500 => "http://127.0.0.1:$rp/http500/",
           nodns => "http://ocsp-prefetch-test.invalid:$rp/good/");
my %LEAF = (nodns => 'dflt');
my $h = OCSPTest::Httpd->new(name => 't24-prom', preload => status_preload(),
    global => status_vhost($sport)
            . "OCSPPrefetchRenewWindow 58s\nOCSPPrefetchRetryDelay 1s 2s\nOCSPPrefetchTimeout 3\n",
    vhosts => [ map { { name => $_, ($LEAF{$_} ? (leaf => $LEAF{$_}) : ()), conf => "OCSPPrefetch on\n"
                        . ($URL{$_} ? "OCSPPrefetchResponder $URL{$_}\n" : '') } } @NAMES ]);
$h->start;

sub prom {
    my $path = shift || '/ocsp-status?prometheus';
    my $r = http_get($sport, $path);
    my $p = parse_prometheus($r->{content} // '');
    $p->{http} = $r;
    return $p;
}

# a JSON document and a Prometheus scrape taken back to back
my $j = status_json($sport);
my $p = prom();
my $r = $p->{http};
is($r->{status}, 200, 'GET ?prometheus: 200');
like($r->{headers}{'content-type'} // '', qr{^text/plain; version=0\.0\.4\b}, '... Content-Type text/plain; version=0.0.4');
ok(!@{ $p->{errors} } && @{ $p->{samples} } > 20, 'strictly valid text exposition format (' . scalar(@{ $p->{samples} }) . ' samples)')
    or diag(join "\n", @{ $p->{errors} }, $r->{content});
my %TYPES = (ocsp_prefetch_certificates => 'gauge', ocsp_prefetch_failing_certificates => 'gauge',
             ocsp_prefetch_earliest_expiry_seconds => 'gauge', ocsp_prefetch_staple_expiry_seconds => 'gauge',
             ocsp_prefetch_consecutive_failures => 'gauge', ocsp_prefetch_fetches_total => 'counter',
             ocsp_prefetch_certificate_state => 'gauge',
             ocsp_prefetch_certificates_by_source => 'gauge', ocsp_prefetch_adoptions_total => 'counter',
             ocsp_prefetch_fetch_duration_seconds => 'histogram');
is_deeply($p->{types}, \%TYPES, '# TYPE of each documented metric, as documented, and no other');
ok(!grep({ !defined $p->{help}{$_} || !length $p->{help}{$_} } keys %TYPES), '# HELP for each');

my $m = prom('/ocsp-status?metrics');
ok($m->{http}{status} == 200 && !@{ $m->{errors} }, '?metrics: 200, strictly valid too')
    or diag(join "\n", @{ $m->{errors} });
sub series { my $q = shift; [ sort map { my $l = $_->{labels};
    $_->{name} . '{' . join(',', map { "$_=$l->{$_}" } sort keys %$l) . '}' } @{ $q->{samples} } ] }
is_deeply(series($m), series($p), '?metrics has the same series as ?prometheus');

# --- gauges against the JSON
my $s = $j->{summary};
is_deeply({ map { $_ => prom_value($p, 'ocsp_prefetch_certificates', state => $_) } qw(good revoked none no_url) },
          { map { $_ => $s->{$_} } qw(good revoked none no_url) },
          "certificates{state}: all four, equal to the JSON summary ($s->{good} good, $s->{revoked} revoked, $s->{none} none, $s->{no_url} no_url)");
is_deeply([ map { $s->{$_} } qw(good revoked none no_url) ], [3, 1, 4, 1], '... which is the real state: 3 good, 1 revoked, 4 none, 1 no_url');
is(scalar(prom_samples($p, 'ocsp_prefetch_certificates')), 5, '... exactly five state series (no_issuer too)');
is(prom_value($p, 'ocsp_prefetch_failing_certificates'), $s->{failing}, "failing_certificates = JSON failing ($s->{failing})");
{
    my $e = prom_value($p, 'ocsp_prefetch_earliest_expiry_seconds');
    ok(defined $e && defined $s->{earliest_expiry_seconds} && abs($e - $s->{earliest_expiry_seconds}) <= 3 && $e <= 60,
       'earliest_expiry_seconds = JSON earliest_expiry_seconds (the 60 s response)')
        or diag("prom " . ($e // 'absent') . " json " . ($s->{earliest_expiry_seconds} // 'null'));
}

my %cert = map { $_->{serial} => $_ } @{ $j->{certificates} };
{
    my @st = prom_samples($p, 'ocsp_prefetch_staple_expiry_seconds');
    my %got = map { ($_->{labels}{serial} // '') => $_ } @st;
    my @stapled = grep { $_->{status} =~ /^(?:good|revoked)$/ } values %cert;
    is_deeply([ sort map { "$_->{labels}{serial}|$_->{labels}{subject}" } @st ],
              [ sort map { "$_->{serial}|$_->{subject}" } @stapled ],
              'staple_expiry_seconds{serial,subject}: one series per stapled certificate, labels = JSON serial and subject (escapes undone)');
    ok(@stapled && !grep({ !$got{$_->{serial}} || abs($got{$_->{serial}}{value} - $_->{seconds_to_expiry}) > 3 } @stapled),
       '... values = JSON seconds_to_expiry');
    my ($x) = grep { $_->{labels}{serial} eq leaf_serial('xss') } @st;
    ok($x && $x->{line} =~ /subject="CN=\\\\<script\\\\>alert\(1\)\\\\<\/script\\\\>&co,O=OCSP Prefetch Test"/,
       'label value escaping: the backslashes of the RFC 2253 subject are written \\\\') or diag($x ? $x->{line} : 'no xss series');
}
{
    my @cf = prom_samples($p, 'ocsp_prefetch_consecutive_failures');
    my %got = map { $_->{labels}{serial} => $_->{value} } @cf;
    is_deeply([ sort keys %got ], [ sort keys %cert ], 'consecutive_failures: one series per certificate');
    my @bad = grep { my $n = $_; my $v = $got{leaf_serial($n)} // -1;
                     $n =~ /^(?:down|garbage|http500|dflt)$/ ? $v < 1 : $v != 0 } map { $LEAF{$_} // $_ } @NAMES;
    ok(!@bad, '... 0 for good/xss/revoked/short/nourl, >= 1 for down/garbage/http500/nodns') or diag("bad: @bad " . explain(\%got));
}
# --- per-certificate series: the key label, the state
{
    my %key = map { $_->{serial} => $_->{key} } values %cert;
    my @per = map { prom_samples($p, $_) } qw(ocsp_prefetch_staple_expiry_seconds ocsp_prefetch_consecutive_failures ocsp_prefetch_certificate_state);
    my @wrong = grep { !defined $_->{labels}{key} || !defined $key{$_->{labels}{serial}}
                       || $_->{labels}{key} ne $key{$_->{labels}{serial}} } @per;
    ok(@per && !@wrong && !grep({ $_->{labels}{key} !~ /^[0-9a-f]{64}$/ } @per),
       'per-certificate series (' . scalar(@per) . '): key label = JSON key (64 hex digits), besides serial and subject')
        or diag(join "\n", map { $_->{line} } @wrong);
    my @st = prom_samples($p, 'ocsp_prefetch_certificate_state');
    my %one; my @bad;
    for my $x (@st) {
        my $c = $cert{$x->{labels}{serial}} or do { push @bad, $x->{line}; next };
        push @bad, $x->{line} unless $x->{value} == ($x->{labels}{state} eq $c->{status} ? 1 : 0);
        $one{$x->{labels}{serial}} += $x->{value};
    }
    ok(@st == 5 * keys(%cert) && !@bad && !grep({ ($one{$_} // 0) != 1 } keys %cert),
       'certificate_state{key,serial,subject,state}: five states per certificate, 1 for its JSON status, 0 for the others')
        or diag(join "\n", @bad, map { $_->{line} } @st);
}

# --- counters
my @REASONS = qw(connect timeout http responder_status invalid cache dns proxy helper);
sub counters {
    my $q = shift;
    return { ok => prom_value($q, 'ocsp_prefetch_fetches_total', result => 'ok'),
             map { $_ => prom_value($q, 'ocsp_prefetch_fetches_total', result => 'failed', reason => $_) } @REASONS };
}
my $c0 = counters($p);
ok(!grep({ !defined $c0->{$_} } 'ok', @REASONS) && scalar(prom_samples($p, 'ocsp_prefetch_fetches_total')) == 10,
   'fetches_total: result="ok" and result="failed" with each of the nine reasons');
ok($c0->{connect} >= 1 && $c0->{invalid} >= 1 && $c0->{http} >= 1 && $c0->{dns} >= 1
   && $c0->{timeout} == 0 && $c0->{responder_status} == 0 && $c0->{cache} == 0
   && $c0->{proxy} == 0 && $c0->{helper} == 0,
   "failures by reason: connect $c0->{connect} (dead port), invalid $c0->{invalid} (garbage), http $c0->{http} (http500), dns $c0->{dns} (.invalid host), no others")
    or diag(explain($c0));
ok(($cert{leaf_serial('down')}{fetches}{failed}{connect} // 0) >= 1
   && ($cert{leaf_serial('garbage')}{fetches}{failed}{invalid} // 0) >= 1
   && ($cert{leaf_serial('http500')}{fetches}{failed}{http} // 0) >= 1
   && ($cert{leaf_serial('dflt')}{fetches}{failed}{dns} // 0) >= 1
   && ($cert{leaf_serial('dflt')}{fetches}{failed}{connect} // -1) == 0,
   'JSON per certificate: down counts connect, garbage invalid, http500 http, nodns dns (and no connect)');

my $c1;
my $grew = wait_until(20, sub {
    $c1 = counters(prom());
    ($c1->{ok} // 0) >= $c0->{ok} + 2 && $c1->{connect} > $c0->{connect}
        && $c1->{invalid} > $c0->{invalid} && $c1->{http} > $c0->{http} && $c1->{dns} > $c0->{dns};
}, 0.5);
ok($grew, "over time: ok $c0->{ok} -> $c1->{ok} (60 s responses renewed), connect $c0->{connect} -> $c1->{connect}, "
   . "invalid $c0->{invalid} -> $c1->{invalid}, http $c0->{http} -> $c1->{http}, dns $c0->{dns} -> $c1->{dns}") or diag(explain($c1));

# --- histogram
sub hist_ok {
    my $q = shift;
    my @le = qw(0.05 0.1 0.25 0.5 1 2.5 5 10 30 +Inf);
    my @b = prom_samples($q, 'ocsp_prefetch_fetch_duration_seconds_bucket');
    my @got = map { $_->{labels}{le} } @b;
    my $cnt = prom_value($q, 'ocsp_prefetch_fetch_duration_seconds_count');
    my $sum = prom_value($q, 'ocsp_prefetch_fetch_duration_seconds_sum');
    my $c = counters($q);
    my $fetches = $c->{ok} + sum(map { $c->{$_} } @REASONS);
    my @err;
    push @err, "le labels @got" unless "@got" eq "@le";
    push @err, 'not cumulative' if grep { $b[$_]{value} < $b[$_ - 1]{value} } 1 .. $#b;
    push @err, "+Inf $b[-1]{value} != _count $cnt" unless @b && defined $cnt && $b[-1]{value} == $cnt;
    push @err, "_sum $sum" unless defined $sum && $sum >= 0 && $sum <= ($cnt // 0) * 30;
    # the latency is recorded just before the result counter: a scrape may
    # fall in between (one fetch at a time: at most 1 ahead)
    push @err, "_count $cnt vs fetches $fetches" unless defined $cnt && $cnt - $fetches >= 0 && $cnt - $fetches <= 1;
    return (!@err, join('; ', @err), $cnt);
}
{
    my ($ok, $err, $cnt) = hist_ok($p);
    ok($ok, "histogram: le 0.05..30,+Inf in order, cumulative, +Inf = _count ($cnt) = fetches counted") or diag($err);
    my $q = prom();
    ($ok, $err, $cnt) = hist_ok($q);
    ok($ok && $cnt > prom_value($p, 'ocsp_prefetch_fetch_duration_seconds_count'), "... still so later, _count grew ($cnt)") or diag($err);
}

# --- mod_status
{
    my $jj = status_json($sport);
    my $ss = http_get($sport, '/server-status');
    my $b = $ss->{content} // '';
    my ($sec) = $b =~ m{(<h2>OCSP stapling \(mod_ocsp_prefetch\)</h2>.*?)(?:<h2>|</body>|\z)}s;
    ok($ss->{status} == 200 && $sec, '/server-status: the "OCSP stapling (mod_ocsp_prefetch)" section')
        or diag("$ss->{status}\n$b");
    $sec //= '';
    my $sm = $jj->{summary};
    like($sec, qr/Certificates: $sm->{total}\b.*good $sm->{good}\b.*revoked $sm->{revoked}\b.*no staple $sm->{none}\b.*no OCSP URL $sm->{no_url}\b/s,
         '... with the counts (certificates, good, revoked, no staple, no OCSP URL)');
    my @want = map { leaf_serial($_) } qw(down garbage http500 revoked dflt);
    my @miss = grep { $sec !~ /\(serial \Q$_\E\)/ } @want;
    my @extra = grep { $sec =~ /\(serial \Q$_\E\)/ } map { leaf_serial($_) } qw(good xss short nourl);
    ok(!@miss && !@extra && $sec =~ /\Q${\ html_escape($cert{leaf_serial('down')}{last_error})}\E/,
       '... one line per failing/unstapled/revoked certificate (down, garbage, http500, nodns, revoked) with its last error; none for the others')
        or diag("missing @miss extra @extra\n$sec");

    my $a = http_get($sport, '/server-status?auto');
    my %auto = ($a->{content} // '') =~ /^(OCSPPrefetch\w+): (-?\d+)$/mg;
    my $sa = status_json($sport)->{summary};
    is_deeply({ map { $_ => $auto{$_} } qw(OCSPPrefetchCertificates OCSPPrefetchGood OCSPPrefetchRevoked OCSPPrefetchNoStaple OCSPPrefetchNoURL OCSPPrefetchFailing) },
              { OCSPPrefetchCertificates => 9, OCSPPrefetchGood => 3, OCSPPrefetchRevoked => 1,
                OCSPPrefetchNoStaple => 4, OCSPPrefetchNoURL => 1, OCSPPrefetchFailing => 4 },
              '/server-status?auto: OCSPPrefetchCertificates 9, Good 3, Revoked 1, NoStaple 4, NoURL 1, Failing 4')
        or diag($a->{content});
    ok(defined $auto{OCSPPrefetchEarliestExpirySeconds} && defined $sa->{earliest_expiry_seconds}
       && abs($auto{OCSPPrefetchEarliestExpirySeconds} - $sa->{earliest_expiry_seconds}) <= 3,
       "... OCSPPrefetchEarliestExpirySeconds = JSON earliest_expiry_seconds ($auto{OCSPPrefetchEarliestExpirySeconds})");
}

$h->stop;

# --- nothing stapled: the earliest-expiry gauge and ?auto line are absent;
#     no certificate at all: still valid documents
{
    my $p2 = free_port();
    my $n = OCSPTest::Httpd->new(name => 't24-nostaple', preload => status_preload(),
        global => status_vhost($p2) . "OCSPPrefetchRetryDelay 1s 2s\n",
        vhosts => [ { name => 'down', conf => "OCSPPrefetch on\nOCSPPrefetchResponder $URL{down}\n" },
                    { name => 'nourl', conf => "OCSPPrefetch on\n" } ]);
    $n->start;
    my $jn = status_json($p2);
    my $q = parse_prometheus(http_get($p2, '/ocsp-status?prometheus')->{content} // '');
    my %auto = (http_get($p2, '/server-status?auto')->{content} // '') =~ /^(OCSPPrefetch\w+): (-?\d+)$/mg;
    ok(!@{ $q->{errors} } && !defined $jn->{summary}{earliest_next_update} && exists $jn->{summary}{earliest_next_update}
       && !defined $jn->{summary}{earliest_expiry_seconds}
       && !prom_samples($q, 'ocsp_prefetch_earliest_expiry_seconds') && !prom_samples($q, 'ocsp_prefetch_staple_expiry_seconds')
       && !exists $auto{OCSPPrefetchEarliestExpirySeconds} && ($auto{OCSPPrefetchNoStaple} // -1) == 1
       && ($auto{OCSPPrefetchNoURL} // -1) == 1,
       'nothing stapled: earliest_next_update/earliest_expiry_seconds null, no earliest/staple expiry samples, no ?auto EarliestExpirySeconds line')
        or diag(explain($jn->{summary}), join("\n", @{ $q->{errors} }), explain(\%auto));
    $n->stop;

    my $p3 = free_port();
    my $e = OCSPTest::Httpd->new(name => 't24-empty', preload => status_preload(), global => status_vhost($p3));
    $e->start;
    my $je = eval { status_json($p3) };
    my $qe = parse_prometheus(http_get($p3, '/ocsp-status?prometheus')->{content} // '');
    my $he = http_get($p3, '/ocsp-status');
    ok($je && ($je->{summary}{total} // -1) == 0 && ref $je->{certificates} eq 'ARRAY' && !@{ $je->{certificates} }
       && !@{ $qe->{errors} } && (prom_value($qe, 'ocsp_prefetch_certificates', state => 'good') // -1) == 0
       && $he->{status} == 200 && http_get($p3, '/server-status')->{status} == 200,
       'no certificate at all: valid JSON with total 0 and no certificates, valid Prometheus text, HTML and server-status 200')
        or diag($@, explain($je), join("\n", @{ $qe->{errors} }));
    $e->stop;
}
