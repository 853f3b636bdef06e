# OCSPPrefetchPrivsep on: OCSP responses are fetched and validated by the
# ocsp-prefetch-helper process, an exec'd binary (not a fork of apache2)
# running as the suite's OCSPPrefetchHelperUser (t/44 tests that directive),
# supervised by the parent: the staple is served and
# valid; a graceful restart keeps the helper (t/45 tests that in depth) and
# does not wait for it; a
# helper that is killed is replaced within seconds and one that is stopped
# (SIGSTOP) misses its heartbeat, is killed and replaced, while staples
# (/short/ responses, valid 60 s) keep being renewed; the parent never
# fetches, parses or verifies a response itself (an LD_PRELOAD shim,
# t/bin/parsewatch.c, records every call of OpenSSL's OCSP response
# parsers in httpd: none in the parent with privsep, some without, as a
# control); a restart or stop with the helper stopped stays fast (a
# stopped helper is not kept, the next generation starts another); stop ends
# it; a full restart staples the stored response, checked by the helper.
# Left unset, the directive means on with the installed helper
# (apxs's LIBEXECDIR); when none is installed there, the server starts and
# says so, and nothing is fetched (never in the parent).
use strict;
use warnings;
use FindBin; use lib "$FindBin::Bin/../lib";
use Apache::Test qw(-withtestmore);
use Cwd qw(abs_path);
use Time::HiRes qw(time sleep);
use OCSPTest qw(module_built wait_until responder_port alive helper_path helper_user work_dir t_dir);
use OCSPTest::Httpd;
use OCSPTest::Lifecycle qw(timed_graceful);
use OCSPTest::Client qw(verify_staple);

plan tests => 53, need { 'module not built (stand-in run)' => module_built(),
                         'helper not built' => -x helper_path() };

my $rp = responder_port();
my $helper = abs_path(helper_path());
my $helper_uid = getpwnam(helper_user());

# children of the parent whose executable is the helper: [pid, uid]
sub helpers {
    my ($h) = @_;
    my @r;
    for my $pid ($h->children) {
        my $exe = readlink("/proc/$pid/exe") // next;
        next unless $exe eq $helper;
        open my $fh, '<', "/proc/$pid/status" or next;
        my $st = do { local $/; <$fh> };
        my ($uid) = $st =~ /^Uid:\s*(\d+)/m;
        push @r, [ $pid, $uid ];
    }
    return @r;
}

sub staple_ok {
    my ($h) = @_;
    my $g = $h->staple('privsep');
    return undef unless $g->{ok} && defined $g->{der};
    my $v = verify_staple($g->{der}, 'short');
    return ($v->{verify_ok} && ($v->{status} // '') eq 'good') ? $v : undef;
}

# Every call of an OCSP response parser in httpd, by PID (t/bin/parsewatch.c).
my $shim = work_dir() . "/parsewatch.so";
my $watch = work_dir() . "/parsewatch-28.log";
unlink $shim, $watch;
system("cc -shared -fPIC -o '$shim' '" . t_dir() . "/bin/parsewatch.c' -ldl") == 0
    or BAIL_OUT("cannot build t/bin/parsewatch.c");
chmod 0644, $shim;
sub parses_by {
    my (@pids) = @_;
    my %want = map { $_ => 1 } grep { defined } @pids;
    open my $fh, '<', $watch or return 0;
    return scalar grep { /^(\d+) / && $want{$1} } <$fh>;
}
my @parents;   # every parent PID of the privsep server

my $h = OCSPTest::Httpd->new(name => 'privsep',
    env => { LD_PRELOAD => $shim, OPF_PARSEWATCH_LOG => $watch },
    global => "OCSPPrefetchPrivsep on \"$helper\"\nOCSPPrefetchRenewWindow 50s\n"
            . "OCSPPrefetchRetryDelay 1s 2s\nOCSPPrefetchStartupWait 5\n",
    vhosts => [ { name => 'privsep', leaf => 'short',
                  conf => "OCSPPrefetch on\nOCSPPrefetchResponder http://127.0.0.1:$rp/short/\n" } ]);
$h->start;
push @parents, $h->pid;

my $v = staple_ok($h);
ok($v, 'the staple is served, good and valid');
ok(scalar $h->log_lines(qr/OCSPPrefetchPrivsep: helper process \d+/),
   'the helper process is announced in the error log');
ok(scalar $h->log_lines(qr/fetching OCSP response by GET .*\(in the helper process\)/),
   'the fetch was made by the helper process');

my @hp = helpers($h);
is(scalar @hp, 1, 'one helper process, a child of the parent, exec\'d from the helper binary')
    or diag(join ' ', map { "$_: " . (readlink("/proc/$_/exe") // '?') } $h->children);
SKIP: {
    skip 'not root: nothing to drop', 1 unless $> == 0;
    is($hp[0][1] // -1, $helper_uid, '... running as OCSPPrefetchHelperUser (' . helper_user() . '), not root');
}
my $exe = @hp ? readlink("/proc/$hp[0][0]/exe") // '' : '';
unlike($exe, qr/apache2|httpd/, "... its /proc/PID/exe is not apache2 ($exe)");

# graceful restart: the same helper, kept, no waiting
my $r = timed_graceful($h);
ok($r->{ok} && $r->{to_generation} < 0.9,
   sprintf('graceful restart: new generation after %.2f s (the helper is not waited for)',
           $r->{to_generation} // 99));
my @hp2 = helpers($h);
ok(@hp2 == 1 && @hp && $hp2[0][0] == $hp[0][0], 'graceful restart: the helper process is kept')
    or diag(join ' ', map { $_->[0] } @hp2);
ok(@hp && scalar $h->log_lines(qr/OCSPPrefetchPrivsep: helper process $hp[0][0] \(.*\) kept from the previous generation/),
   '... and the log says so');
ok(staple_ok($h), '... and the staple is still served');

# Staples are renewed after $t (thisUpdate later), every one served valid.
sub renewed_after {
    my ($t, $within) = @_;
    my ($renewed, $bad) = (0, 0);
    my $end = time + $within;
    while (time < $end) {
        my $s = staple_ok($h);
        if (!$s) { $bad++; }
        elsif ($s->{this_epoch} && $s->{this_epoch} > $t + 1) { $renewed = 1; last }
        sleep 0.5;
    }
    return ($renewed, $bad);
}
# Fetches made by the parent itself (each fetch's debug line says where).
sub parent_fetches { scalar grep { !/\(in the helper process\)/ } $h->log_lines(qr/fetching OCSP response by/) }

# kill the helper: logged once, replaced within seconds; never a fetch in the parent
my $t_kill = time;
kill 'KILL', $hp2[0][0] if @hp2;
ok(wait_until(10, sub { scalar $h->log_lines(qr/the helper process \d+ has gone away; OCSP fetches fail until a new one runs/) }, 0.1),
   'killing the helper is logged') or diag($h->log_tail);
my @hp4;
ok(wait_until(15, sub { @hp4 = helpers($h); @hp4 == 1 && @hp2 && $hp4[0][0] != $hp2[0][0] }, 0.1),
   sprintf('... and a new helper process runs (after %.1f s)', time - $t_kill))
    or diag(join ' ', map { $_->[0] } @hp4);
my ($renewed, $bad) = renewed_after($t_kill, 45);
ok($renewed, 'after the helper died, the staple is renewed (thisUpdate after the kill)');
is($bad, 0, '... and every staple served meanwhile is valid');
is(scalar($h->log_lines(qr/has gone away/)), 1, 'the loss is logged once');
is(parent_fetches(), 0, 'no fetch was made in the parent process');

# SIGSTOP: the heartbeat goes unanswered, the helper is killed and replaced
my ($stopped) = helpers($h);
my $t_stop = time;
kill 'STOP', $stopped->[0] if $stopped;
ok(wait_until(40, sub { scalar $h->log_lines(qr/has not answered its heartbeat for [\d.]+ s \(stopped or stuck\): killed/) }, 0.2),
   sprintf('a stopped helper misses its heartbeat and is killed (after %.1f s)', time - $t_stop))
    or diag($h->log_tail);
my @hp5;
ok(wait_until(25, sub { @hp5 = helpers($h); @hp5 == 1 && $stopped && $hp5[0][0] != $stopped->[0] }, 0.2)
   && $stopped && !alive($stopped->[0]),
   sprintf('... replaced by a new helper, the stopped one gone (%.1f s after the stop)', time - $t_stop));
($renewed, $bad) = renewed_after($t_stop, 45);
ok($renewed && $bad == 0, '... and staples are renewed again, every one valid');
is(parent_fetches(), 0, '... never by the parent');

# a graceful restart with the helper stopped: fast, and the stopped one ends
($stopped) = helpers($h);
kill 'STOP', $stopped->[0] if $stopped;
my $r2 = timed_graceful($h);
ok($r2->{ok} && $r2->{to_generation} < 2,
   sprintf('graceful restart with the helper stopped: new generation after %.2f s', $r2->{to_generation} // 99));
ok($stopped && wait_until(3, sub { !alive($stopped->[0]) }, 0.02), '... and the stopped helper is gone (not kept)');

# the next generation has a helper again
$h->graceful;
my @hp3 = helpers($h);
ok(@hp3 == 1 && (!@hp2 || $hp3[0][0] != $hp2[0][0]), 'the next generation spawns a new helper');
ok(staple_ok($h), '... and staples');

kill 'STOP', $hp3[0][0] if @hp3;
my $t_halt = time;
$h->stop;
ok(time - $t_halt < 5, sprintf('stop with the helper stopped takes %.2f s', time - $t_halt));
ok(@hp3 && wait_until(5, sub { !alive($hp3[0][0]) }, 0.05), 'stop ends the helper process');
unlike($h->log_content, qr/exit signal|Segmentation|AH00052/, 'no crash logged');

# a full restart: the stored response is checked by the helper and stapled
$h->start;
push @parents, $h->pid;
ok(staple_ok($h), 'after a full restart the staple is served');
ok(scalar $h->log_lines(qr/stapling the OCSP response from the store/),
   '... from the store, as validated by the helper');
ok(!$h->log_lines(qr/not using the OCSP response from the store|did not validate a stored/),
   '... with no complaint about the stored response');
$h->stop;
is(parses_by(@parents), 0, 'the parent never parsed or verified an OCSP response itself '
   . '(fetches, two graceful restarts, a full restart: parsewatch)');

# The control: without privsep the parent does (the shim sees it).
my $off = OCSPTest::Httpd->new(name => 'privsep-off',
    env => { LD_PRELOAD => $shim, OPF_PARSEWATCH_LOG => $watch },
    global => "OCSPPrefetchPrivsep off\nOCSPPrefetchStartupWait 5\n",
    vhosts => [ { name => 'privsep', leaf => 'short',
                  conf => "OCSPPrefetch on\nOCSPPrefetchResponder http://127.0.0.1:$rp/short/\n" } ]);
$off->start;
my $off_parent = $off->pid;
ok(staple_ok($off) && parses_by($off_parent) > 0,
   'control: with OCSPPrefetchPrivsep off the parent parses (parsewatch sees it)');
$off->stop;


# OCSPPrefetchPrivsep unset (the comment keeps the suite from adding the
# line): the default helper path, where `make install` puts the helper.
my $libexec = `$ENV{APACHE_TEST_APXS} -q LIBEXECDIR 2>/dev/null` || '/usr/lib/apache2/modules';
chomp $libexec;
my $installed = -x "$libexec/ocsp-prefetch-helper";
my $d = OCSPTest::Httpd->new(name => 'privsep-default',
    global => "# OCSPPrefetchPrivsep left at its default\nOCSPPrefetchStartupWait 5\n",
    vhosts => [ { name => 'privsep', leaf => 'short',
                  conf => "OCSPPrefetch on\nOCSPPrefetchResponder http://127.0.0.1:$rp/short/\n" } ]);
$d->start(timeout => $installed ? 30 : 10);
ok($installed ? staple_ok($d) : !staple_ok($d),
   'OCSPPrefetchPrivsep unset: ' . ($installed ? 'the staple is served' : 'no staple (no helper)'));
if ($installed) {
    ok(scalar $d->log_lines(qr{OCSPPrefetchPrivsep: helper process \d+ \(\Q$libexec\E/ocsp-prefetch-helper\)}),
       "... fetched by the installed helper ($libexec/ocsp-prefetch-helper)");
    ok(!$d->log_lines(qr/is not installed/), '... and no warning');
}
else {
    ok(scalar $d->log_lines(qr{\[ocsp_prefetch:error\].*OCSPPrefetchPrivsep: the helper program \Q$libexec\E/ocsp-prefetch-helper is not installed}),
       "... no helper installed in $libexec: an error says so");
    ok(!$d->log_lines(qr/fetching OCSP response by GET/)
       && $d->log_lines(qr/no privilege separation helper process is running/),
       '... and nothing is fetched: not in the parent either');
}
$d->stop;

# A graceful restart reuses what the previous generation accepted: the same
# response bytes for the same leaf and issuer are only checked for their
# times (no helper round trip, logged "carried over, times checked" and
# counted in the seeding summary); a changed issuer (same leaf, the
# intermediate re-issued with the same name and key) or a changed leaf is
# validated again. Without a helper (it fails to start), the carried
# response is still used, and stored ones are not parsed by the parent:
# one warning, no per-certificate line.
my $work = OCSPTest::work_dir() . "/privsep-carry";
File::Path::make_path($work);
my $pki = OCSPTest::pki_dir();
my $chain1 = "$work/chain-int1.pem";
my $chain2 = "$work/chain-int2.pem";
my $gl = OCSPTest::leaf('graceful');
{
    open my $fh, '>', "$work/int.ext" or die $!;
    print $fh "basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n"
            . "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n";
    close $fh;
    system("openssl req -new -key '$pki/int.key' -subj '/O=OCSP Prefetch Test/CN=Test Intermediate CA' "
         . "-out '$work/int2.csr' 2>/dev/null && openssl x509 -req -in '$work/int2.csr' -CA '$pki/root.pem' "
         . "-CAkey '$pki/root.key' -set_serial 0x0299 -days 3000 -sha256 -extfile '$work/int.ext' "
         . "-out '$work/int2.pem' 2>/dev/null") == 0 or die "cannot make int2";
    for ([$chain1, "$pki/int.pem"], [$chain2, "$work/int2.pem"]) {
        my ($out, $int) = @$_;
        open my $o, '>', $out or die $!;
        print $o OCSPTest::slurp($gl->{cert}), OCSPTest::slurp($int);
        close $o;
    }
    # a helper that exits at once: the parent has none to ask
    open my $s, '>', "$work/dead-helper" or die $!;
    print $s "#!/bin/sh\nexit 1\n";
    close $s;
    chmod 0755, "$work/dead-helper", $work;
}
my $seeded_re = qr/seeded OCSP responses: (\d+) carried over with their times checked, (\d+) checked by the helper process, (\d+) validated in this process, (\d+) not checked/;
# the seeding summary and the "stapling ... from the previous generation"
# lines logged after offset $off
sub seeded {
    my ($c, $off) = @_;
    my @l = grep { /$seeded_re/ } split /\n/, OCSPTest::log_since($c->error_log, $off);
    return $l[-1] && $l[-1] =~ $seeded_re ? [$1, $2, $3, $4] : [];
}
sub from_previous {
    my ($c, $off) = @_;
    grep { /stapling the OCSP response from the previous generation/ }
        split /\n/, OCSPTest::log_since($c->error_log, $off);
}
sub carry_staple {
    my ($c, $leaf) = @_;
    my $g = $c->staple('carry');
    return undef unless $g->{ok} && defined $g->{der};
    my $v = verify_staple($g->{der}, $leaf);
    return ($v->{verify_ok} && ($v->{status} // '') eq 'good') ? $g->{der} : undef;
}
my $carry_global = "OCSPPrefetchStartupWait 5\n";
my $c = OCSPTest::Httpd->new(name => 'privsep-carry',
    global => "OCSPPrefetchPrivsep on \"$helper\"\n$carry_global",
    vhosts => [ { name => 'carry', leaf => 'graceful', certfile => $chain1,
                  conf => "OCSPPrefetch on\nOCSPPrefetchResponder http://127.0.0.1:$rp/good/\n" } ]);
$c->start;
my $der1 = carry_staple($c, 'graceful');
ok($der1, 'carry: the staple is served');

my $logpos = -s $c->error_log;
$r = timed_graceful($c);
my $s = seeded($c, $logpos);
my @prev = from_previous($c, $logpos);
ok($r->{ok} && @prev == 1 && $prev[0] =~ /carried over, times checked/,
   'graceful restart: the previous generation\'s response is carried over, times checked')
    or diag(join("\n", @prev), $c->log_tail);
is_deeply($s, [1, 0, 0, 0], '... the helper was asked nothing (1 carried, 0 checked by the helper)');
my $der2 = carry_staple($c, 'graceful');
ok($der2 && $der1 && $der2 eq $der1, '... and the same response is stapled');

# the same leaf under a re-issued intermediate (same name and key)
$c->vhost('carry')->{certfile} = $chain2;
$c->write_config;
$logpos = -s $c->error_log;
$r = timed_graceful($c);
$s = seeded($c, $logpos);
@prev = from_previous($c, $logpos);
ok($r->{ok} && @prev == 1 && $prev[0] =~ /checked by the helper process/,
   'a changed issuer: the carried response is checked by the helper again')
    or diag(join("\n", @prev), $c->log_tail);
is_deeply($s, [0, 1, 0, 0], '... one CHECK to the helper, nothing carried on its times');
ok(carry_staple($c, 'graceful'), '... and stapled');
$logpos = -s $c->error_log;
$c->graceful;
is_deeply(seeded($c, $logpos), [1, 0, 0, 0],
          '... the helper\'s verdict is carried over at the next restart');

# a helper that cannot start: the carried response needs none; then a full
# restart: the stored response is not parsed in the parent
$c->{global} = "OCSPPrefetchPrivsep on \"$work/dead-helper\"\n$carry_global";
$c->write_config;
$logpos = -s $c->error_log;
$c->graceful;
ok(wait_until(5, sub { grep { /cannot start the helper process|the helper process \d+ has gone away/ }
                         split /\n/, OCSPTest::log_since($c->error_log, $logpos) }, 0.05),
   'a helper that exits at once: the parent has no helper');
is_deeply(seeded($c, $logpos), [1, 0, 0, 0], '... the carried response is used all the same (times checked)');
ok(carry_staple($c, 'graceful'), '... and stapled');
$c->stop;
$c->start;
my @lines = $c->log_lines;
ok(scalar(grep { /\[ocsp_prefetch:warn\].*the helper process (?:is not running|did not answer): 1 OCSP response from the store, the previous generation or the fleet cache was not checked and is not used; they will be fetched/ } @lines),
   'full restart without a helper: one warning, the stored response is not checked')
    or diag($c->log_tail);
ok(!grep({ /stapling the OCSP response from the store/ } @lines)
   && !grep({ /\[ocsp_prefetch:(?:info|notice|warn|error)\].*not using the OCSP response from the store/ } @lines),
   '... not stapled from the store, and no line per certificate above debug');
is_deeply(seeded($c, 0), [0, 0, 0, 1], '... nothing validated in the parent (nor by the helper)');
$c->stop;

# a changed leaf under the same name: nothing is carried over
$c->{global} = "OCSPPrefetchPrivsep on \"$helper\"\n$carry_global";
$c->write_config;
$c->start;
ok(carry_staple($c, 'graceful'), 'the helper back: stapled');
my $v2 = $c->vhost('carry');
$v2->{leaf} = 'startup';
delete $v2->{certfile};
$c->write_config;
$logpos = -s $c->error_log;
$c->graceful;
ok(!from_previous($c, $logpos) && seeded($c, $logpos)->[0] == 0,
   'a changed leaf for the same name: no response from the previous generation')
    or diag($c->log_tail);
ok(wait_until(10, sub { carry_staple($c, 'startup') }, 0.1), '... its own response is fetched and stapled');
$c->stop;
unlike($c->log_content, qr/exit signal|Segmentation|AH00052/, 'carry: no crash logged');
