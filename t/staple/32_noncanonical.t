# Only canonical DER is stapled (issue 14, item 1).  An on-path attacker on
# the plain-HTTP way to the responder can re-encode a genuine response
# without touching its signature: two bytes added inside the responseBytes
# OCTET STRING ('padded'), or a length in BER ('berlen').  OpenSSL still
# accepts such a response; GnuTLS and other strict DER parsers refuse the
# staple, and the whole handshake with it.
#  1. The faults are real: OpenSSL verifies both re-encoded responses;
#     GnuTLS's ocsptool refuses to parse the padded one (it takes BER
#     lengths, which mozilla::pkix and python-cryptography refuse), and
#     parses the genuine one.
#  2. A vhost whose responder (the suite responder's switch=NAME URL, 60 s
#     responses, OCSPPrefetchRenewWindow 50s, OCSPPrefetchRetryDelay 1s 2s)
#     turns to padded, then berlen: each refresh is rejected with the reason
#     "not canonical DER", the genuine staple held keeps being served (the
#     same bytes) and a GnuTLS client (gnutls-cli --ocsp) connects and
#     accepts it, as does OpenSSL's.
#  3. Back to good: the staple is renewed.
use strict;
use warnings;
use FindBin; use lib "$FindBin::Bin/../lib";
use Apache::Test qw(-withtestmore);
use File::Temp qw(tempdir);
use Time::HiRes qw(time sleep);
use OCSPTest qw(module_built wait_until responder_port pki_dir leaf slurp);
use OCSPTest::Httpd;
use OCSPTest::Client qw(get_staple verify_staple);
use OCSPTest::Persist qw(set_switch wait_requests fetch_ocsp);

my $have_gnutls = -x '/usr/bin/gnutls-cli' && -x '/usr/bin/ocsptool';
plan tests => 17, need { 'module not built (stand-in run)' => module_built(),
                         'gnutls-bin not installed' => $have_gnutls };

my $rp = responder_port();
my $sw = "nc$$";
my $tmp = tempdir('t31-XXXXXX', TMPDIR => 1, CLEANUP => 1);
END { unlink OCSPTest::Persist::responder_tmp() . "/switch-$sw" }

sub write_file { my ($f, $d) = @_; open my $fh, '>', $f or die "$f: $!"; binmode $fh; print $fh $d; close $fh }

# GnuTLS's own parser on a response: (exit status, output)
sub gnutls_parse {
    my $der = shift;
    write_file("$tmp/r.der", $der);
    my $out = `ocsptool --response-info --infile '$tmp/r.der' 2>&1`;
    return ($? >> 8, $out);
}

# 1. the faults, against both parsers
for my $mode (qw(padded berlen)) {
    my $good = fetch_ocsp($rp, 'short', 'short');
    my $bad = fetch_ocsp($rp, "short+$mode", 'short');
    ok(defined $good && defined $bad && length($bad) > 0 && $bad ne $good,
       "$mode: the responder serves a re-encoded response");
    my $v = verify_staple($bad // '', 'short');
    ok($v->{verify_ok} && ($v->{status} // '') eq 'good',
       "$mode: OpenSSL still verifies it (good)") or diag($v->{text});
    # GnuTLS (libtasn1) takes a non-minimal length; mozilla::pkix and
    # python-cryptography do not. Bytes left inside the OCTET STRING it
    # refuses.
    next unless $mode eq 'padded';
    my ($rc_bad) = gnutls_parse($bad // '');
    my ($rc_good, $out_good) = gnutls_parse($good // '');
    ok($rc_bad != 0 && $rc_good == 0,
       "$mode: GnuTLS refuses to parse it, and parses the genuine one "
       . "(exit $rc_bad / $rc_good)") or diag($out_good);
}

# 2. the module refuses them and keeps serving the genuine staple
set_switch($sw, 'short');
my $h = OCSPTest::Httpd->new(name => 't31-noncanonical',
    global => "OCSPPrefetchRenewWindow 50s\nOCSPPrefetchRetryDelay 1s 2s\n",
    vhosts => [ { name => 'short', conf => "OCSPPrefetch on\n"
                  . "OCSPPrefetchResponder http://127.0.0.1:$rp/switch=$sw/\n" } ]);
$h->start;
my $g0;
wait_until(15, sub { $g0 = $h->staple('short'); defined $g0->{der} }, 0.2);
ok(defined $g0->{der}, 'a staple is served (genuine responses)');
my $v0 = verify_staple($g0->{der} // '', 'short');

my $leaf = leaf('short');
my $ca = pki_dir() . "/ca-chain.pem";
sub gnutls_client {
    my $out = `timeout 20 gnutls-cli --ocsp --x509cafile='$ca' --verify-hostname=short.test --sni-hostname=short.test -p ${\ $h->port('short')} 127.0.0.1 </dev/null 2>&1`;
    return ($? >> 8, $out);
}

for my $mode (qw(padded berlen)) {
    my $off = -s OCSPTest::responder_log() || 0;
    my $loff = -s $h->error_log || 0;
    set_switch($sw, "short+$mode");
    # the refresh is due about 10 s after thisUpdate; then retried every 1-2 s
    my @r = wait_requests(2, 40, off => $off, mode => "switch=$sw:short+$mode");
    ok(@r >= 2, "$mode: the module asked the responder again (" . scalar(@r) . " times)");
    my @why;
    wait_until(5, sub { @why = grep { /not canonical DER/ } split /\n/, $h->log_content($loff); @why });
    ok(@why > 0, "$mode: each answer is rejected as not canonical DER")
        or diag($h->log_tail);
    diag("  $why[0]") if @why;
    my $g = $h->staple('short');
    ok(defined $g->{der} && defined $g0->{der} && $g->{der} eq $g0->{der},
       "$mode: the genuine staple held is still served, byte for byte");
    my $v = verify_staple($g->{der} // '', 'short');
    ok($v->{verify_ok} && ($v->{status} // '') eq 'good' && $v->{next_epoch} > time,
       "$mode: ... OpenSSL verifies it, good and unexpired");
    my ($rc, $out) = gnutls_client();
    ok($rc == 0 && $out =~ /OCSP/i && $out !~ /OCSP status response is invalid/i,
       "$mode: a GnuTLS client (gnutls-cli --ocsp) connects and accepts the staple (exit $rc)")
        or diag($out);
}

# 3. genuine again: renewed
{
    my $off = -s OCSPTest::responder_log() || 0;
    set_switch($sw, 'short');
    my $renewed;
    wait_until(30, sub {
        my $g = $h->staple('short');
        return 0 unless defined $g->{der} && $g->{der} ne $g0->{der};
        my $v = verify_staple($g->{der}, 'short');
        $renewed = $v->{verify_ok} && $v->{this_epoch} > ($v0->{this_epoch} // 0);
    }, 0.5);
    ok($renewed, 'back to canonical responses: the staple is renewed');
}
$h->stop;
