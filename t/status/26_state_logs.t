# Logs: one line per state change, not per attempt (issue 4, item 4).
# A private server at LogLevel info ocsp_prefetch:info (no debug lines),
# RetryDelay 1s 2s, RenewWindow 58s, with:
#   good      stapled: exactly one line ("stapled: good")
#   revoked   exactly one "certificate is REVOKED" (error) and one
#             "stapled: revoked"
#   down      dead port, failing from the start, many rounds: exactly one
#             "failing:" (warn)
#   nourl     exactly one "has no OCSP responder URL"
#   flaky     60 s responses renewed every ~2 s from a switchable responder
#             URL: "stapled:" once, renewals silent; switched to http500 for
#             several rounds: exactly one "failing:" (warn, still stapling);
#             back to good: exactly one "recovered:" (notice); silent again
#   expiry    60 s response, then the URL drops connections: one "failing:",
#             one "expired:" when it runs out (bounded <= 75 s), and back to
#             good, one "renewed late:"
# The startup summary "started: 5 certificates: 0 from the previous
# generation or the store, 4 fetched, 1 without a staple yet, 1 without OCSP
# URL (cache ..., store DIR)" once, at info; after a graceful restart
# "restarted: ... 4 from the previous generation or the store, 0 fetched,
# 1 without ..." and no new "stapled:" line for the carried-over staples;
# after a full stop/start "started: ... 4 from ... the store".  Every
# ocsp_prefetch line that is not about the whole server names its
# certificate: "certificate 'SUBJECT' (serial SERIAL)", both right.
# Cold start (a server of its own): a certificate whose first fetches fail
# (HTTP 500) gets one "failing:" (warn); when its responder answers, one
# "recovered:" at notice (not a "stapled:" at info, which LogLevel warn
# would hide), and nothing more.
use strict;
use warnings;
use FindBin; use lib "$FindBin::Bin/../lib";
use Apache::Test qw(-withtestmore);
use Time::HiRes qw(time);
use OCSPTest qw(module_built free_port responder_port leaf_serial wait_until
                responder_requests responder_log log_since);
use OCSPTest::Httpd;
use OCSPTest::Client qw(verify_staple);
use OCSPTest::Persist qw(set_switch responder_tmp);

plan tests => 38, need { 'module not built (stand-in run)' => module_built() };

my $rp = responder_port();
my $dead = free_port();
my $T0 = time;
my %SW = (flaky => "t26f$$", expiry => "t26x$$", cold => "t26c$$");
my $main_pid = $$;
END { unlink map { responder_tmp() . "/switch-$_" } values %SW if $$ == ($main_pid // 0) }
set_switch($_, 'short') for values %SW;

# name => leaf
my %LEAF = (good => 'good', revoked => 'revoked', down => 'down', nourl => 'nourl',
            flaky => 'failpol', expiry => 'expiry');
my %ID = map { my $l = $LEAF{$_};
               $_ => "certificate 'CN=$l.test,O=OCSP Prefetch Test' (serial " . leaf_serial($l) . ")" } keys %LEAF;
sub sw { "OCSPPrefetch on\nOCSPPrefetchResponder http://127.0.0.1:$rp/switch=$_[0]/\n" }
my $h = OCSPTest::Httpd->new(name => 't26-logs', loglevel => 'info ssl:warn ocsp_prefetch:info',
    global => "OCSPPrefetchRetryDelay 1s 2s\nOCSPPrefetchRenewWindow 58s\nOCSPPrefetchTimeout 3\n",
    vhosts => [ { name => 'good',    conf => "OCSPPrefetch on\n" },
                { name => 'revoked', conf => "OCSPPrefetch on\n" },
                { name => 'down',    conf => "OCSPPrefetch on\nOCSPPrefetchResponder http://127.0.0.1:$dead/good/\n" },
                { name => 'nourl',   conf => "OCSPPrefetch on\n" },
                { name => 'flaky', leaf => 'failpol', conf => sw($SW{flaky}) },
                { name => 'expiry',  conf => sw($SW{expiry}) } ]);
$h->start;
my $xs = $h->staple('expiry');
set_switch($SW{expiry}, 'drop');
my $xv = $xs->{der} ? verify_staple($xs->{der}, 'expiry') : {};
my $N = $xv->{next_epoch} // time + 60;
ok($xv->{verify_ok} && $xv->{next_epoch} - $xv->{this_epoch} == 60, 'expiry: stapled a 60 s response; its URL now drops connections');

my $LOG = $h->error_log;
my $log_off = $h->{log_off} // 0;
sub opf_lines { grep { /\[ocsp_prefetch:/ } split /\n/, log_since($LOG, shift // $log_off) }
sub about { my ($name, @l) = @_; grep { index($_, $ID{$name}) >= 0 } @l }
sub n_about { my ($name, $re, $off) = @_; scalar grep { $_ =~ $re } about($name, opf_lines($off)) }

# --- startup summary
{
    my @s = grep { /\] started: / } opf_lines();
    is(scalar(@s), 1, 'one startup summary line');
    my $store = $h->root . '/ocsp-store';
    like($s[0] // '', qr/\[ocsp_prefetch:info\] .*started: 5 certificates: 0 from the previous generation or the store, 4 fetched, 1 without a staple yet, 1 without OCSP URL \(cache [^,]+, store \Q$store\E\)$/,
         '... "started: 5 certificates: 0 from the previous generation or the store, 4 fetched, 1 without a staple yet, 1 without OCSP URL (cache ..., store DIR)", at info');
    # The end of the first round: 5 certificates had no response (nourl is
    # not fetched), down fails at once (connection refused).
    my @r;
    ok(wait_until(10, sub { @r = grep { /\] first round of OCSP fetches done / } opf_lines(); @r }, 0.1),
       'the first round of fetches ends with a summary line');
    is(scalar(@r), 1, '... one');
    like($r[0] // '', qr/\[ocsp_prefetch:notice\] .*first round of OCSP fetches done in \d+\.\d{3} s: 4 of 5 certificates without a valid response at the start got one; 1 failed \(see the warnings above\) and is retried on its schedule$/,
         '... at notice: "first round of OCSP fetches done in S s: 4 of 5 certificates without a valid response at the start got one; 1 failed (see the warnings above) and is retried on its schedule"');
}

# --- flaky: fail for several rounds, then recover
my $fser = leaf_serial('failpol');
{
    my $off = -s responder_log();
    wait_until(15, sub { responder_requests(off => $off, serial => $fser, mode => "switch=$SW{flaky}:short", status => 200) >= 3 }, 0.2);
    is(n_about('flaky', qr/./), 1, 'flaky: 3 renewals later still one line: "stapled:"');
    $off = -s responder_log();
    set_switch($SW{flaky}, 'http500');
    my @r;
    wait_until(25, sub { @r = responder_requests(off => $off, serial => $fser, mode => "switch=$SW{flaky}:http500"); @r >= 5 }, 0.2);
    ok(@r >= 5, 'flaky: ' . scalar(@r) . ' failed rounds (HTTP 500)');
    my @f = grep { /\] \Q$ID{flaky}\E: failing: / } opf_lines();
    is(scalar(@f), 1, 'flaky: exactly one "failing:" line for them') or diag(join "\n", about('flaky', opf_lines()));
    like($f[0] // '', qr/\[ocsp_prefetch:warn\].*failing: .*HTTP.*500.*still stapling the response held, valid until /,
         '... at warn, with the reason and that the response held is still stapled');
    $off = -s responder_log();
    set_switch($SW{flaky}, 'short');
    wait_until(15, sub { responder_requests(off => $off, serial => $fser, mode => "switch=$SW{flaky}:short", status => 200) >= 3 }, 0.2);
    my @rec = grep { /\] \Q$ID{flaky}\E: recovered: / } opf_lines();
    is(scalar(@rec), 1, 'flaky: back to good, 3 renewals later: exactly one "recovered:" line');
    like($rec[0] // '', qr/\[ocsp_prefetch:notice\].*recovered: OCSP responder http:\S+ answered again after \d+ failed rounds?; valid until /,
         '... at notice, naming the responder and the failed rounds');
    is(n_about('flaky', qr/./), 3, 'flaky: three lines in all (stapled, failing, recovered)')
        or diag(join "\n", about('flaky', opf_lines()));
}

# --- the others, meanwhile
{
    my @d = about('down', opf_lines());
    is(scalar(@d), 1, 'down: one line after ' . int(time - $T0) . ' s of failing rounds (RetryDelay 1s 2s)') or diag(join "\n", @d);
    like($d[0] // '', qr/\[ocsp_prefetch:warn\].*failing: OCSP fetch failed: connection refused \(responder http:\/\/127\.0\.0\.1:$dead\/good\/\); next attempt in \d+ s; no staple is served meanwhile$/,
         '... "failing:" at warn: connection refused, the responder, no staple meanwhile');
    my @g = about('good', opf_lines());
    ok(@g == 1 && $g[0] =~ /\[ocsp_prefetch:info\].*: stapled: good, valid until .* \(responder http:\/\/127\.0\.0\.1:$rp\/good\/\)$/,
       'good: one line, "stapled: good, valid until ... (responder ...)" at info') or diag(join "\n", @g);
    my @v = about('revoked', opf_lines());
    is(scalar(@v), 2, 'revoked: two lines') or diag(join "\n", @v);
    is(scalar(grep { /\[ocsp_prefetch:error\].*: certificate is REVOKED according to its OCSP responder / } @v), 1,
       '... one "certificate is REVOKED" at error');
    is(scalar(grep { /\[ocsp_prefetch:info\].*: stapled: revoked, valid until / } @v), 1, '... one "stapled: revoked" at info');
    my @u = about('nourl', opf_lines());
    ok(@u == 1 && $u[0] =~ /has no OCSP responder URL/, 'nourl: one line, "has no OCSP responder URL"') or diag(join "\n", @u);
}

# --- expiry
{
    wait_until(($N + 10 - time) > 1 ? $N + 10 - time : 1, sub { n_about('expiry', qr/: expired: /) }, 0.2);
    my @x = grep { /: expired: / } about('expiry', opf_lines());
    is(scalar(@x), 1, sprintf('expiry: one "expired:" line (after %.0f s)', time - $T0)) or diag(join "\n", about('expiry', opf_lines()));
    like($x[0] // '', qr/\[ocsp_prefetch:warn\].*expired: the last valid OCSP response ran out at .*; no staple is served until a fetch succeeds \(last attempt: .+\)$/,
         '... at warn, with the last attempt');
    my $off = -s responder_log();
    set_switch($SW{expiry}, 'short');
    wait_until(15, sub { n_about('expiry', qr/: renewed late: /) }, 0.2);
    wait_until(10, sub { responder_requests(off => $off, serial => leaf_serial('expiry'), mode => "switch=$SW{expiry}:short", status => 200) >= 3 }, 0.2);
    my @e = about('expiry', opf_lines());
    is(scalar(grep { /\[ocsp_prefetch:notice\].*: renewed late: the previous response ran out at .*; stapling again until / } @e), 1,
       'expiry: back to good: one "renewed late:" at notice');
    is(scalar(grep { /: failing: / } @e), 1, 'expiry: one "failing:" for the whole outage');
    is(scalar(@e), 4, 'expiry: four lines in all (stapled, failing, expired, renewed late), three renewals later')
        or diag(join "\n", @e);
}

# --- every line names its certificate; no debug
{
    my @all = opf_lines();
    my %known = map { $ID{$_} => 1 } keys %ID;
    my @anon = grep { !/certificate '([^']*)' \(serial ([0-9A-F]+)\)/ || !$known{"certificate '$1' (serial $2)"} }
               grep { !/\] (?:started|restarted): \d+ certificates?: |\] first OCSP fetches |\] first round of OCSP fetches done |\] OCSPPrefetchPrivsep: helper process \d+ / } @all;
    ok(!@anon, 'every ocsp_prefetch line but the server-wide ones names its certificate: subject and serial, both right ('
       . scalar(@all) . ' lines)') or diag(join "\n", @anon);
    is(scalar(grep { /\[ocsp_prefetch:(?:debug|trace\d)\]/ } @all), 0, 'no debug lines at LogLevel ocsp_prefetch:info');
    ok(time - $T0 <= 100, sprintf('bounded: %.0f s so far', time - $T0));
}

# --- graceful restart: the summary, no new "stapled:" for carried-over staples
{
    my $off = -s $LOG;
    $h->graceful;
    my @s = grep { /\] restarted: / } opf_lines($off);
    is(scalar(@s), 1, 'graceful restart: one summary line');
    like($s[0] // '', qr/\[ocsp_prefetch:info\].*restarted: 5 certificates: 4 from the previous generation or the store, 0 fetched, 1 without a staple yet, 1 without OCSP URL \(cache /,
         '... "restarted: 5 certificates: 4 from the previous generation or the store, 0 fetched, 1 without a staple yet, 1 without OCSP URL"');
    my $roff = -s responder_log();
    wait_until(15, sub { responder_requests(off => $roff, serial => $fser, mode => "switch=$SW{flaky}:short", status => 200) >= 3 }, 0.2);
    my @new = map { about($_, opf_lines($off)) } qw(good revoked flaky expiry);
    is(scalar(@new), 0, 'no line for good, revoked, flaky, expiry in the new generation (3 renewals of flaky later): nothing changed')
        or diag(join "\n", @new);
}

# --- full stop and start: from the store
{
    $h->stop;
    set_switch($SW{flaky}, 'short');
    my $roff = -s responder_log();
    $h->start;
    wait_until(15, sub { responder_requests(off => $roff, serial => $fser, mode => "switch=$SW{flaky}:short", status => 200) >= 2 }, 0.2);
    my @s = grep { /\] started: / } opf_lines($h->{log_off});
    is(scalar(@s), 1, 'stop and start: one summary line');
    like($s[0] // '', qr/\[ocsp_prefetch:info\].*started: 5 certificates: 4 from the previous generation or the store, 0 fetched, 1 without a staple yet, 1 without OCSP URL \(cache /,
         '... "started: 5 certificates: 4 from the previous generation or the store, 0 fetched, 1 without ..."');
    my @st = grep { /: stapled: / } opf_lines($h->{log_off});
    is(scalar(@st), 0, '... and no "stapled:" line for the responses from the store (2 renewals of flaky later)') or diag(join "\n", @st);
    $h->stop;
}

# --- cold start: failing from the first fetch, then the responder answers
{
    set_switch($SW{cold}, 'http500');
    my $c = OCSPTest::Httpd->new(name => 't26-cold', loglevel => 'info ssl:warn ocsp_prefetch:info',
        global => "OCSPPrefetchRetryDelay 1s 2s\nOCSPPrefetchStartupWait 1\nOCSPPrefetchTimeout 3\n",
        vhosts => [ { name => 'cold', leaf => 'failpol', conf => sw($SW{cold}) } ]);
    $c->start;
    my $id = $ID{flaky};    # same leaf
    my $clines = sub { grep { index($_, $id) >= 0 } grep { /\[ocsp_prefetch:/ } split /\n/, log_since($c->error_log, $c->{log_off}) };
    ok(wait_until(15, sub { grep { /: failing: / } $clines->() }, 0.2), 'cold: its first round fails (HTTP 500): "failing:"');
    my $roff = -s responder_log();
    wait_until(10, sub { responder_requests(off => $roff, serial => $fser, mode => "switch=$SW{cold}:http500") >= 2 }, 0.2);
    set_switch($SW{cold}, 'short');
    wait_until(15, sub { grep { /: recovered: / } $clines->() }, 0.2);
    wait_until(10, sub { responder_requests(off => $roff, serial => $fser, mode => "switch=$SW{cold}:short", status => 200) >= 2 }, 0.2);
    my @l = $clines->();
    my @rec = grep { /: recovered: / } @l;
    is(scalar(@rec), 1, 'cold: the responder answers: exactly one "recovered:" line') or diag(join "\n", @l);
    like($rec[0] // '', qr/\[ocsp_prefetch:notice\].*: recovered: OCSP responder http:\S+ answered after \d+ failed rounds?; stapled: good, valid until /,
         '... at notice, with the responder, the failed rounds and what is stapled now');
    ok(@l == 2 && !grep({ /: stapled: / } @l), 'cold: two lines in all (failing, recovered), no "stapled:" at info')
        or diag(join "\n", @l);
    $c->stop;
}
