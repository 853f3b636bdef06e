# OCSPPrefetchPrivsep on: OCSP responses are fetched and validated by the
# ocsp-prefetch-helper process, an exec'd binary (not a fork of apache2)
# running as the suite's OCSPPrefetchHelperUser (t/44 tests that directive),
# one per generation: the staple is served and valid; a graceful restart
# replaces the helper without waiting for it; if the helper is killed the
# parent logs it and keeps renewing staples itself (/short/ responses,
# valid 60 s); the next generation has a helper again;
# stop ends it; a full restart staples the stored response, checked by the
# helper. Left unset, the directive means on with the installed helper
# (apxs's LIBEXECDIR); when none is installed there, the server starts,
# warns and fetches in the parent.
use strict;
use warnings;
use FindBin; use lib "$FindBin::Bin/lib";
use Apache::Test qw(-withtestmore);
use Cwd qw(abs_path);
use Time::HiRes qw(time sleep);
use OCSPTest qw(module_built wait_until responder_port alive helper_path helper_user);
use OCSPTest::Httpd;
use OCSPTest::Lifecycle qw(timed_graceful);
use OCSPTest::Client qw(verify_staple);

plan tests => 24, need { 'module not built (stand-in run)' => module_built(),
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

my $h = OCSPTest::Httpd->new(name => 'privsep',
    global => "OCSPPrefetchPrivsep on \"$helper\"\nOCSPPrefetchRenewWindow 50s\n"
            . "OCSPPrefetchRetryDelay 1s 2s\nOCSPPrefetchStartupWait 5\n",
    vhosts => [ { name => 'privsep', leaf => 'short',
                  conf => "OCSPPrefetch on\nOCSPPrefetchResponder http://127.0.0.1:$rp/short/\n" } ]);
$h->start;

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

# graceful restart: a new helper, the old one gone, no waiting
my $r = timed_graceful($h);
ok($r->{ok} && $r->{to_generation} < 0.9,
   sprintf('graceful restart: new generation after %.2f s (the helper is not waited for)',
           $r->{to_generation} // 99));
my @hp2 = helpers($h);
ok(@hp2 == 1 && @hp && $hp2[0][0] != $hp[0][0], 'graceful restart: one new helper process')
    or diag(join ' ', map { $_->[0] } @hp2);
ok(@hp && wait_until(2, sub { !alive($hp[0][0]) }, 0.02), '... the old one is gone');
ok(staple_ok($h), '... and the staple is still served');

# kill the helper: logged, and staples keep being renewed by the parent
my $t_kill = time;
kill 'KILL', $hp2[0][0] if @hp2;
ok(wait_until(10, sub { scalar $h->log_lines(qr/privilege separation helper process \(pid \d+\) has gone away/) }, 0.1),
   'killing the helper logs the fallback') or diag($h->log_tail);
my ($renewed, $bad) = (0, 0);
my $end = time + 45;
while (time < $end) {
    my $s = staple_ok($h);
    if (!$s) { $bad++; }
    elsif ($s->{this_epoch} && $s->{this_epoch} > $t_kill + 1) { $renewed = 1; last }
    sleep 0.5;
}
ok($renewed, 'after the helper died, the staple is renewed (thisUpdate after the kill)');
is($bad, 0, '... and every staple served meanwhile is valid');
is(scalar($h->log_lines(qr/has gone away/)), 1, 'the loss is logged once');

# the next generation has a helper again
$h->graceful;
my @hp3 = helpers($h);
ok(@hp3 == 1 && (!@hp2 || $hp3[0][0] != $hp2[0][0]), 'the next generation spawns a new helper');
ok(staple_ok($h), '... and staples');

$h->stop;
ok(@hp3 && wait_until(5, sub { !alive($hp3[0][0]) }, 0.05), 'stop ends the helper process');
unlike($h->log_content, qr/exit signal|Segmentation|AH00052/, 'no crash logged');

# a full restart: the stored response is checked by the helper and stapled
$h->start;
ok(staple_ok($h), 'after a full restart the staple is served');
ok(scalar $h->log_lines(qr/stapling the OCSP response from the store/),
   '... from the store, as validated by the helper');
ok(!$h->log_lines(qr/not using the OCSP response from the store|did not validate a stored/),
   '... with no complaint about the stored response');
$h->stop;

# OCSPPrefetchPrivsep unset (the comment keeps the suite from adding the
# line): the default helper path, where `make install` puts the helper.
my $libexec = `$ENV{APACHE_TEST_APXS} -q LIBEXECDIR 2>/dev/null` || '/usr/lib/apache2/modules';
chomp $libexec;
my $installed = -x "$libexec/ocsp-prefetch-helper";
my $d = OCSPTest::Httpd->new(name => 'privsep-default',
    global => "# OCSPPrefetchPrivsep left at its default\nOCSPPrefetchStartupWait 5\n",
    vhosts => [ { name => 'privsep', leaf => 'short',
                  conf => "OCSPPrefetch on\nOCSPPrefetchResponder http://127.0.0.1:$rp/short/\n" } ]);
$d->start;
ok(staple_ok($d), 'OCSPPrefetchPrivsep unset: the staple is served');
if ($installed) {
    ok(scalar $d->log_lines(qr{OCSPPrefetchPrivsep: helper process \d+ \(\Q$libexec\E/ocsp-prefetch-helper\)}),
       "... fetched by the installed helper ($libexec/ocsp-prefetch-helper)");
    ok(!$d->log_lines(qr/is not installed/), '... and no warning');
}
else {
    ok(scalar $d->log_lines(qr{\[ocsp_prefetch:warn\].*OCSPPrefetchPrivsep: the helper program \Q$libexec\E/ocsp-prefetch-helper is not installed; OCSP responses are fetched and validated in the parent process}),
       "... no helper installed in $libexec: a warning says the parent fetches");
    ok(scalar $d->log_lines(qr/fetching OCSP response by GET/)
       && !$d->log_lines(qr/\(in the helper process\)/), '... and the parent did');
}
$d->stop;
