# The store is never trusted (issue 3, rule 1).  Good store files are made by
# a first server (store1.test, store2.test); then one own server per case,
# each with its own store holding one crafted file for store1.test and a
# responder URL where nothing listens (so a staple could only come from the
# store):
#   valid        control: the untouched file is stapled, from the store
#   tampered     one digit of producedAt changed     -> bad signature
#   truncated    file cut in half (header says more) -> bad header/truncated
#   cut-der      DER cut, header consistent          -> not a DER OCSPResponse
#   foreign      store2.test's file under store1's name -> no SingleResponse
#   expired      an expired response (responder 'expired' mode: nextUpdate a
#                day ago)                            -> expired
#   world-writable  file mode 0666                   -> refused
#   other-owner  file owned by nobody                -> refused
#   group-dir    store directory mode 0770           -> ERROR, store not used
# Each: the server starts, no handshake carries a staple, a log line says why.
# Pruning: OCSPPrefetchKeepResponse 3s; store2.test removed from the config:
# its file survives a restart inside the grace period and is removed by the
# first restart after it, while store1.test's file stays.
# A large response (~18 KB, > 16 KiB: responder mode 'huge') is stored whole
# and stapled from the store after stop/start with the responder down.
use strict;
use warnings;
use FindBin; use lib "$FindBin::Bin/../lib";
use Apache::Test qw(-withtestmore);
use Time::HiRes qw(time);
use OCSPTest qw(module_built free_port wait_until responder_port slurp);
use OCSPTest::Httpd;
use OCSPTest::Client qw(verify_staple);
use OCSPTest::Persist qw(store_file read_store write_store restart_first fetch_ocsp);

my @CASES = qw(tampered truncated cut-der foreign expired world-writable other-owner group-dir);
plan tests => 8 + 5 * @CASES + 10 + 9,
    need { 'module not built (stand-in run)' => module_built() };

my $rp = responder_port();
my $dead = free_port();                      # nothing listens here
my $on = sub { "OCSPPrefetch on\nOCSPPrefetchResponder http://127.0.0.1:$_[0]/$_[1]/\n" };

# --- long-running parts first: pruning and the big response
my $pr = OCSPTest::Httpd->new(name => 't16-prune',
    global => "OCSPPrefetchKeepResponse 3s\n",
    vhosts => [ { name => 'store1', conf => $on->($rp, 'good') },
                { name => 'store2', conf => $on->($rp, 'good') } ]);
my $prstore = $pr->root . "/ocsp-store";
my ($pf1, $pf2) = (store_file($prstore, 'store1'), store_file($prstore, 'store2'));
$pr->start;
my $big = OCSPTest::Httpd->new(name => 't16-big',
    vhosts => [ { name => 'bigstore', conf => $on->($rp, 'huge') } ]);
my $bigfile = store_file($big->root . "/ocsp-store", 'bigstore');
$big->start;

# --- the source of good store files
my $src = OCSPTest::Httpd->new(name => 't16-src',
    vhosts => [ { name => 'store1', conf => $on->($rp, 'good') },
                { name => 'store2', conf => $on->($rp, 'good') } ]);
my $sdir = $src->root . "/ocsp-store";
$src->start;
my ($f1, $f2) = (store_file($sdir, 'store1'), store_file($sdir, 'store2'));
ok(wait_until(10, sub { -s $f1 && -s $f2 }, 0.1), 'source server stored responses for store1 and store2');
ok($src->stop, 'source server stopped');
my ($d1, $d2) = (read_store($f1), read_store($f2));
my $v1 = $d1 ? verify_staple($d1, 'store1') : {};
ok($v1->{verify_ok} && ($v1->{status} // '') eq 'good', 'stored response for store1 verifies') or diag($v1->{text} // '');
my $exp = fetch_ocsp($rp, 'expired', 'store1');
my $ve = $exp ? verify_staple($exp, 'store1') : {};
ok($ve->{next_epoch} && $ve->{next_epoch} < time - 3600, 'an expired response for store1 (nextUpdate in the past)')
    or diag($ve->{text} // 'no response');

# the tampered copy: one digit of producedAt (GeneralizedTime, 15 bytes)
my $tam = $d1 // '';
my $i = index($tam, "\x18\x0f");
substr($tam, $i + 2 + 13, 1) = chr(ord(substr($tam, $i + 2 + 13, 1)) ^ 1) if $i >= 0;
ok($i >= 0 && $tam ne $d1 && length $tam == length $d1, 'tampered copy differs in one byte');
my $fullfile = 'OPFSTOR1' . pack('N', length $d1) . "\0\0\0\0" . $d1;

my %case = (
    tampered         => { der => $tam, re => qr/not using the OCSP response from the store: bad signature/ },
    truncated        => { raw => substr($fullfile, 0, int(length($fullfile) / 2)),
                          re => qr/ignoring its stored OCSP response: .*(?:bad header or truncated|impossible size)/ },
    'cut-der'        => { der => substr($d1, 0, length($d1) - 40),
                          re => qr/not using the OCSP response from the store: not a DER OCSPResponse/ },
    foreign          => { der => $d2, re => qr/not using the OCSP response from the store: no SingleResponse for this certificate/ },
    expired          => { der => $exp, re => qr/not using the OCSP response from the store: expired/ },
    'world-writable' => { der => $d1, mode => 0666, re => qr/ignoring its stored OCSP response: refusing .*writable by group or others/ },
    'other-owner'    => { der => $d1, owner => scalar getpwnam('nobody'),
                          re => qr/ignoring its stored OCSP response: refusing .*not owned by the server's user/ },
    'group-dir'      => { der => $d1, dirmode => 0770, level => 'error',
                          re => qr/OCSPPrefetchStore: refusing to use .*writable by group or others.*not using it/ },
);

# control: the untouched file, served from the store with the responder down
my $c = OCSPTest::Httpd->new(name => 't16-valid', vhosts => [ { name => 'store1', conf => $on->($dead, 'good') } ]);
mkdir $c->root . "/ocsp-store", 0700;
my $cfile = store_file($c->root . "/ocsp-store", 'store1');
write_store($cfile, $d1);
# and the leftover of a write interrupted by a crash: half a temporary file
(my $ctmp = $cfile) =~ s/\.ocsp$/.tmp/;
write_store($ctmp, undef, raw => substr($fullfile, 0, 100));
$c->start;
my $cg = $c->first_handshake;
ok($cg && defined $cg->{der} && $cg->{der} eq $d1, 'control: untouched store file is stapled (responder down), a half-written temporary file beside it notwithstanding');
ok(scalar($c->log_lines(qr/store1\.test.*stapling the OCSP response from the store/)) == 1, 'control: ... from the store');
ok($c->stop, 'control: stopped');

for my $name (@CASES) {
    my $k = $case{$name};
    SKIP: {
    skip "$name: needs root (chown)", 5 if defined $k->{owner} && $> != 0;
    my $h = OCSPTest::Httpd->new(name => "t16-$name", vhosts => [ { name => 'store1', conf => $on->($dead, 'good') } ]);
    my $dir = $h->root . "/ocsp-store";
    mkdir $dir, 0700;
    my $file = store_file($dir, 'store1');
    write_store($file, $k->{der}, raw => $k->{raw}, mode => $k->{mode} // 0600);
    chown $k->{owner}, -1, $file if defined $k->{owner};
    chmod $k->{dirmode}, $dir if $k->{dirmode};
    my $before = slurp($file);
    my $up = eval { $h->start; 1 };
    ok($up, "$name: server starts") or diag($@);
    my $fh = $h->first_handshake;
    my @more = map { $h->staple('store1') } 1 .. 2;
    ok($fh && $fh->{ok} && !grep({ !$_->{ok} } @more), "$name: handshakes succeed");
    ok(!grep({ defined $_->{der} } $fh // {}, @more), "$name: no staple is served");
    my $lvl = $k->{level} // 'info|warn';
    my @l = $h->log_lines($k->{re});
    ok(@l == 1 && $l[0] =~ /\[ocsp_prefetch:(?:$lvl)\]/, "$name: one log line ($lvl) says why")
        or diag(join("\n", @l) . "\n" . $h->log_tail);
    is(slurp($file), $before, "$name: the file was left alone (not served, not rewritten)");
    $h->stop;
    }
}

# --- pruning
ok(wait_until(10, sub { -s $pf1 && -s $pf2 }, 0.1), 'prune: both certificates stored');
$pr->{vhosts} = [ grep { $_->{name} ne 'store2' } @{ $pr->{vhosts} } ];
$pr->write_config;
my $now = time;
utime $now, $now, $pf2;                        # the grace period starts now
my ($g) = restart_first($pr, 'graceful');
ok(-f $pf2, 'prune: store2 removed from the config, its file kept at a restart inside the 3 s grace period');
is(scalar($pr->log_lines(qr/removed \d+ stored OCSP response/)), 0, '... and no removal logged');
ok(defined $g->{der}, 'prune: store1 still stapled');
ok(wait_until(6, sub { time > $now + 3.3 }, 0.1), 'prune: grace period over (bounded wait on the clock)');
($g) = restart_first($pr, 'graceful');
ok(!-e $pf2, 'prune: store2 file removed at the first restart after the grace period');
ok(-f $pf1, 'prune: store1 file (still configured) stays');
my @rm = $pr->log_lines(qr/removed 1 stored OCSP response of certificates no longer configured/);
is(scalar @rm, 1, 'prune: removal logged once');
ok(defined $g->{der}, 'prune: store1 still stapled after the pruning restart');
ok($pr->stop, 'prune: stopped');

# --- a large response goes through the store whole
my $bg = $big->first_handshake;
ok($bg && defined $bg->{der} && length($bg->{der}) >= 16384,
   'big: first handshake carries a ' . length($bg->{der} // '') . '-byte staple (>= 16 KiB)')
    or diag($big->log_tail);
ok(wait_until(10, sub { -s $bigfile }, 0.1), 'big: store file written');
is(length(read_store($bigfile) // ''), length($bg->{der} // ''), 'big: the store file holds the whole response (' . ((-s $bigfile) // 0) . ' bytes)');
ok($big->stop, 'big: stopped');
$big->{vhosts}[0]{conf} = $on->($dead, 'good');         # responder down from now on
$big->write_config;
$big->start;
my $bf = $big->first_handshake;
ok($bf && defined $bf->{der} && $bf->{der} eq ($bg->{der} // ''), 'big: after stop/start with the responder down, the first handshake carries the same big staple');
my $bv = $bf && $bf->{der} ? verify_staple($bf->{der}, 'bigstore') : {};
ok($bv->{verify_ok} && ($bv->{status} // '') eq 'good', 'big: it verifies and says good') or diag($bv->{text} // '');
ok(scalar($big->log_lines(qr/bigstore\.test.*stapling the OCSP response from the store/)) == 1, 'big: ... from the store');
ok($big->stop, 'big: stopped');
unlike(join('', map { slurp($_->error_log) // '' } $pr, $big), qr/exit signal|Segmentation|AH00052/, 'no crash');
