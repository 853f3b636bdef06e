# Must-staple and the delegated signer's lifetime (issue 3, rule 2).
#  * t19-down: muststaple.test (TLS Feature status_request) and msplain.test,
#    responder refusing connections, RetryDelay 1s 1s: an ERROR at startup
#    names muststaple.test ("must-staple"), and every failed round of it is
#    an ERROR too; msplain.test gets no ERROR at all.
#  * OCSPPrefetchStartupWait on a graceful restart: t19-wait-ms
#    (muststaple.test) and t19-wait-plain (msplain.test) start against a
#    responder that hangs (no staple, the first round still running, no failure
#    counted), then are switched to one answering after 1.5 s (delay=1.5) and
#    restarted with `-k graceful`: the must-staple server's new generation
#    waits for the answer and the first handshake after the restart carries
#    the staple; the plain one does not wait and its first handshake has none.
#  * Clamp: a delegated OCSP signer made now, valid for 30 s more (faketime),
#    signs responses valid for a day (responder mode signer=NAME).  The usable
#    validity is the signer's notAfter: the log says "valid for <= 30 s", the
#    staple is served until the signer expires and not after, though the
#    response's own nextUpdate is a day later.
use strict;
use warnings;
use FindBin; use lib "$FindBin::Bin/../lib";
use Apache::Test qw(-withtestmore);
use Time::HiRes qw(time);
use OCSPTest qw(module_built free_port wait_until responder_port pki_dir);
use OCSPTest::Httpd;
use OCSPTest::Client qw(verify_staple);
use OCSPTest::Persist qw(restart_first responder_tmp);

plan tests => 4 + 6 + 9 + 6, need { 'module not built (stand-in run)' => module_built() };

my $rp = responder_port();
my $dead = free_port();
my $url = sub { "OCSPPrefetch on\nOCSPPrefetchResponder http://127.0.0.1:$_[0]/$_[1]/\n" };

# --- clamp: a delegated signer that expires in 30 s
my $LIFE = 30;
my $sname = "t19c$$";
my $tmp = responder_tmp();
my $pki = pki_dir();
my $ext = "$tmp/signer-$sname.ext";
{
    open my $fh, '>', $ext or die $!;
    print $fh "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=OCSPSigning\n";
    close $fh;
}
my $cmd = "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out '$tmp/signer-$sname.key' 2>/dev/null"
        . " && openssl req -new -key '$tmp/signer-$sname.key' -subj '/O=OCSP Prefetch Test/CN=Short-lived OCSP Signer' -out '$tmp/signer-$sname.csr'"
        . " && faketime -f -" . (86400 - $LIFE) . " openssl x509 -req -in '$tmp/signer-$sname.csr' -CA '$pki/int.pem' -CAkey '$pki/int.key'"
        . " -set_serial 0x" . sprintf('%X', 0x5000 + ($$ % 4096)) . " -days 1 -sha256 -extfile '$ext' -out '$tmp/signer-$sname.pem' 2>/dev/null";
my $made = system($cmd) == 0;
my $na = `openssl x509 -in '$tmp/signer-$sname.pem' -noout -enddate 2>/dev/null`;
my $T_EXP = OCSPTest::Client::_epoch(($na =~ /notAfter=(.+)$/)[0] // '') // 0;
my $main_pid = $$;
END { unlink glob("$tmp/signer-$sname.*") if $sname && $$ == ($main_pid // 0) }
ok($made && $T_EXP > time + $LIFE - 10 && $T_EXP <= time + $LIFE + 2,
   sprintf('a delegated signer valid for %d s more (notAfter %s)', $T_EXP - time, $na =~ /=(.+)/ ? $1 : '?'));

my $cl = OCSPTest::Httpd->new(name => 't19-clamp', global => "OCSPPrefetchRetryDelay 1s 2s\nOCSPPrefetchTimeout 3\n",
    vhosts => [ { name => 'clamp', conf => $url->($rp, "signer=$sname") } ]);
$cl->start;
my $CS = $cl->first_handshake;
my $cv = $CS && $CS->{der} ? verify_staple($CS->{der}, 'clamp') : {};
ok($cv->{verify_ok} && ($cv->{status} // '') eq 'good', 'clamp: stapled, verifies (signer still valid)') or diag($cv->{text} // $cl->log_tail);
ok(($cv->{next_epoch} // 0) > time + 80000, "clamp: the response's own nextUpdate is a day away");
my ($stored) = $cl->log_lines(qr/clamp\.test.*stored OCSP response \(good, \d+ bytes, valid for (\d+) s\)/);
my ($vfor) = ($stored // '') =~ /valid for (\d+) s/;
ok(defined $vfor && $vfor <= $LIFE + 1, "clamp: the module holds it valid for " . ($vfor // '?') . " s only (the signer's notAfter)")
    or diag($stored // $cl->log_tail);

# --- must-staple with the responder down: ERROR at startup and every round
my $d = OCSPTest::Httpd->new(name => 't19-down', global => "OCSPPrefetchRetryDelay 1s 1s\nOCSPPrefetchStartupWait 2\n",
    vhosts => [ { name => 'muststaple', conf => $url->($dead, 'good') },
                { name => 'msplain',    conf => $url->($dead, 'good') } ]);
$d->start;
my @st = $d->log_lines(qr/\[ocsp_prefetch:error\].*muststaple\.test.*must-staple certificate has no valid OCSP response yet/);
is(scalar @st, 1, 'down: one ERROR at startup for muststaple.test saying "must-staple"')
    or diag(join "\n", $d->log_lines(qr/muststaple/));
my @rounds;
ok(wait_until(10, sub { @rounds = $d->log_lines(qr/muststaple\.test.*consecutive failed round/); @rounds >= 4 }, 0.1),
   'down: 4 failed rounds of muststaple.test');
my @err = grep { /\[ocsp_prefetch:error\].*must-staple certificate has no valid OCSP response \(\d+ consecutive/ } @rounds;
is(scalar @err, scalar @rounds, 'down: every failed round of muststaple.test is an ERROR naming must-staple (' . scalar(@err) . '/' . scalar(@rounds) . ')')
    or diag(join "\n", @rounds);
my @n = map { /\((\d+) consecutive/ ? $1 : 0 } @rounds;
is("@n", join(' ', 1 .. scalar @n), 'down: ... one per round: 1, 2, 3, ...');
is(scalar($d->log_lines(qr/\[ocsp_prefetch:error\].*msplain\.test/)), 0, 'down: no ERROR for msplain.test (not must-staple)');
ok(scalar($d->log_lines(qr/msplain\.test.*(?:failing:|still failing after)/)) >= 3, 'down: msplain.test failed as often (warn/info)');
$d->stop;

# --- StartupWait on a graceful restart
my %w;
for my $k (qw(ms plain)) {
    my $leaf = $k eq 'ms' ? 'muststaple' : 'msplain';
    $w{$k} = OCSPTest::Httpd->new(name => "t19-wait-$k",
        global => "OCSPPrefetchStartupWait 1\nOCSPPrefetchTimeout 20\nOCSPPrefetchRetryDelay 1s 2s\n",
        vhosts => [ { name => $leaf, conf => $url->($rp, 'hang') } ]);
    $w{$k}->start;
}
ok(!defined $w{ms}->first_handshake->{der} && !defined $w{plain}->first_handshake->{der},
   'wait: both servers up without a staple (responder hangs)');
for my $k (qw(ms plain)) {
    $w{$k}{global} = "OCSPPrefetchStartupWait 5\nOCSPPrefetchTimeout 10\nOCSPPrefetchRetryDelay 1s 2s\n";
    $w{$k}{vhosts}[0]{conf} = $url->($rp, 'delay=1.5');
    $w{$k}->write_config;
}
my ($gm, $tm) = restart_first($w{ms}, 'graceful');
my ($gp, $tp) = restart_first($w{plain}, 'graceful');
my $vm = $gm->{der} ? verify_staple($gm->{der}, 'muststaple') : {};
ok($vm->{verify_ok} && ($vm->{status} // '') eq 'good', 'wait: must-staple: the first handshake after -k graceful carries a good staple')
    or diag($w{ms}->log_tail);
ok($tm >= 1.3 && $tm < 5 + 3, sprintf('wait: must-staple: the new generation waited for the 1.5 s answer (%.2f s)', $tm));
ok(scalar($w{ms}->log_lines(qr/first OCSP fetches done after \d+ ms/)) >= 1, 'wait: must-staple: log says the first fetches were waited for');
ok(!defined $gp->{der}, 'wait: plain: the first handshake after -k graceful has no staple (no wait)');
ok($tp < 1.3, sprintf('wait: plain: the graceful restart did not wait (%.2f s)', $tp));
is(scalar($w{plain}->log_lines(qr/first OCSP fetches done after/)) , 0, 'wait: plain: no startup wait logged on the restart');
my $lp;
ok(wait_until(10, sub { $lp = $w{plain}->staple('msplain'); defined $lp->{der} }, 0.2), 'wait: plain: stapled once the answer came');
ok($w{ms}->stop && $w{plain}->stop, 'wait: both stopped');

# --- clamp: served until the signer's notAfter, not after
ok(wait_until($LIFE + 10, sub { time >= $T_EXP - 3 }, 0.2), 'clamp: 3 s before the signer expires (bounded wait on the clock)');
my @polls;
while (time < $T_EXP + 2) {
    my $t0 = time;
    my $g = $cl->staple('clamp', timeout => 3);
    push @polls, { t0 => $t0, t1 => time, ok => $g->{ok}, der => $g->{der} };
}
my @before = grep { $_->{t1} < $T_EXP - 0.3 } @polls;
my @after  = grep { $_->{t0} >= $T_EXP + 0.1 } @polls;
ok(@before >= 3 && !grep({ !defined $_->{der} } @before),
   'clamp: stapled up to the signer\'s notAfter (' . scalar(@before) . ' handshakes)');
ok(@after >= 3 && !grep({ defined $_->{der} } @after),
   'clamp: not stapled after it, though nextUpdate is a day away (' . scalar(@after) . ' handshakes)')
    or diag(join "\n", map { sprintf "%.3f %s", $_->{t0} - $T_EXP, defined $_->{der} ? 'staple' : 'none' } @polls);
ok(!grep({ !$_->{ok} } @polls), 'clamp: every handshake succeeded');
ok(wait_until(8, sub { scalar $cl->log_lines(qr/clamp\.test.*rejected OCSP response: bad signature/) }, 0.2),
   'clamp: once the signer expired, its responses are rejected');
ok($cl->stop, 'clamp: stopped');
