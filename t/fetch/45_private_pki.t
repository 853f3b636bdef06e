# Private PKIs (issue 14, item 2), against the suite's real `openssl ocsp`
# responder:
#   - responses without nextUpdate (openssl ocsp without -ndays/-nmin):
#     rejected by default, the log line names OCSPPrefetchAssumeValidity, no
#     staple; with "OCSPPrefetchAssumeValidity 2h" stapled, and the status
#     page's nextUpdate is thisUpdate + 2 h (the staple itself has none);
#   - an https:// responder (a TLS front, t/bin/tls-front.pl, in front of the
#     real responder, with a certificate of a CA made here for 127.0.0.1):
#     with OCSPPrefetchResponderCAFile naming that CA, stapled (in the helper,
#     and without privsep in the prefetch thread); with another CA's file,
#     the fetch fails saying the responder's certificate is not accepted, and
#     nothing is stapled; with the right CA but another host name in the
#     URL (localhost: the certificate is for 127.0.0.1 only), likewise;
#     an https:// URL in a certificate's AIA is never
#     used (the front sees no connection for it) and the log says why;
#   - responders answering unauthorized, or malformedRequest (what one that
#     requires a nonce answers): each log line says what to change;
#   - an https:// responder behind OCSPPrefetchProxy: refused at start-up.
# Teeth: with https refused as before, the https cases fail; with responses
# without nextUpdate accepted unbounded, the lifetime check fails.
use strict;
use warnings;
use FindBin; use lib "$FindBin::Bin/../lib";
use Apache::Test qw(-withtestmore);
use POSIX qw(setsid);
use IO::Socket::INET;
use File::Temp qw(tempdir);
use OCSPTest qw(module_built wait_until responder_port free_port slurp t_dir work_dir pki_dir leaf);
use OCSPTest::Httpd;
use OCSPTest::Client qw(verify_staple);
use OCSPTest::Status qw(status_vhost status_json rfc3339);

plan tests => 28, need { 'module not built (stand-in run)' => module_built() };

my $rp = responder_port();
my $pki = pki_dir();

# --- a TLS PKI for the front: its CA, another CA, a server certificate ------
my $tls = tempdir('opf-tls-XXXXXX', TMPDIR => 1, CLEANUP => 1);
chmod 0755, $tls;   # read by the helper's user
sub run_ok { my $cmd = shift; system("$cmd >/dev/null 2>&1") == 0 or die "failed: $cmd\n" }
for my $ca (qw(tlsca otherca)) {
    run_ok("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 "
         . "-subj '/CN=OPF test $ca' -keyout $tls/$ca.key -out $tls/$ca.pem");
}
open my $ext, '>', "$tls/srv.ext" or die $!;
# for the address only: "https://localhost:PORT" is the wrong name for it
print $ext "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n";
close $ext;
run_ok("openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
     . "-subj '/CN=127.0.0.1' -keyout $tls/srv.key -out $tls/srv.csr");
run_ok("openssl x509 -req -in $tls/srv.csr -CA $tls/tlsca.pem -CAkey $tls/tlsca.key "
     . "-set_serial 7 -days 2 -extfile $tls/srv.ext -out $tls/srv.pem");
chmod 0644, glob("$tls/*.pem");

# A leaf whose AIA names an https:// responder (good.test's key, issued by
# the suite's intermediate CA)
my $fport = free_port();
open $ext, '>', "$tls/aia.ext" or die $!;
print $ext "authorityInfoAccess=OCSP;URI:https://127.0.0.1:$fport/good/\n";
close $ext;
my $good = leaf('good');
run_ok("openssl req -new -key $good->{key} -subj '/CN=aiahttps.test' -out $tls/aia.csr");
run_ok("openssl x509 -req -in $tls/aia.csr -CA $pki/int.pem -CAkey $pki/int.key "
     . "-set_serial 0x7777 -days 2 -extfile $tls/aia.ext -out $tls/aia.pem");
{
    open my $o, '>', "$tls/aia.chain.pem" or die $!;
    print $o slurp("$tls/aia.pem"), slurp("$pki/int.pem");
    close $o;
}

# --- the TLS front ---------------------------------------------------------
my $flog = work_dir() . "/tls-front-$fport.log";
unlink $flog;
my $fpid = fork // die;
if (!$fpid) {
    setsid();
    open STDIN, '<', '/dev/null';
    open STDOUT, '>>', "$flog.out";
    open STDERR, '>&', \*STDOUT;
    exec $^X, t_dir() . '/bin/tls-front.pl', '--port', $fport, '--backend', $rp,
        '--cert', "$tls/srv.pem", '--key', "$tls/srv.key", '--log', $flog, '--lifetime', 300;
    exit 127;
}
END { local $?; if ($fpid) { kill 'TERM', $fpid; waitpid $fpid, 0 } }
wait_until(10, sub { IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $fport, Proto => 'tcp') }, 0.05)
    or die "the TLS front did not come up\n";
sub front_lines { my @l = split /\n/, (slurp($flog) // ''); @l }

sub cert_json {
    my ($sport) = @_;
    my $j = eval { status_json($sport) } or return {};
    return $j->{certificates}[0] // {};
}

sub server {
    my ($name, $global, $vconf, %a) = @_;
    my $sport = free_port();
    my $h = OCSPTest::Httpd->new(name => "t45-$name",
        global => "OCSPPrefetchStartupWait 0\n" . $global . status_vhost($sport),
        vhosts => [ { name => $a{vname} // 'good', leaf => 'good', conf => "OCSPPrefetch on\n$vconf",
                      ($a{certfile} ? (certfile => $a{certfile}) : ()) } ]);
    return ($h, $sport);
}

sub stapled {
    my ($h, $vname) = @_;
    my $v = {};
    wait_until(20, sub {
        my $g = $h->staple($vname // 'good', timeout => 3);
        $v = $g->{der} ? verify_staple($g->{der}, 'good') : {};
        $v->{verify_ok} && ($v->{status} // '') eq 'good';
    }, 0.25);
    return $v;
}

sub never_stapled {
    my ($h) = @_;
    my @g = map { $h->staple('good', timeout => 3) } 1 .. 3;
    return !grep { defined $_->{der} } @g;
}

# --- no nextUpdate: rejected by default ---------------------------------------
{
    my ($h, $sport) = server('nonext', '', "OCSPPrefetchResponder http://127.0.0.1:$rp/nonext/\n");
    $h->start;
    my @l;
    wait_until(20, sub { @l = $h->log_lines(qr/good\.test.*rejected OCSP response: no nextUpdate/) }, 0.25);
    ok(scalar @l, 'no nextUpdate: rejected, the reason in the log');
    like($l[0] // '', qr/set OCSPPrefetchAssumeValidity/, '... the log line names the directive to set');
    ok(never_stapled($h), '... and nothing is stapled');
    $h->stop;
}

# --- no nextUpdate, OCSPPrefetchAssumeValidity 2h: stapled, bounded -----------
{
    my ($h, $sport) = server('assume', '', "OCSPPrefetchResponder http://127.0.0.1:$rp/nonext/\n"
                                        . "OCSPPrefetchAssumeValidity 2h\n");
    $h->start;
    my $v = stapled($h);
    ok($v->{verify_ok} && ($v->{status} // '') eq 'good', 'AssumeValidity 2h: the response without nextUpdate is stapled');
    ok(!defined $v->{next_update}, '... the staple itself has no nextUpdate (the genuine response)');
    my $c = {};
    wait_until(10, sub { $c = cert_json($sport); defined $c->{next_update} }, 0.25);
    my ($tu, $nu) = map { eval { rfc3339($_) } } @$c{qw(this_update next_update)};
    ok(defined $tu && defined $nu && $nu - $tu == 7200,
       '... the status page: nextUpdate = thisUpdate + 2 h')
        or diag("this_update " . ($c->{this_update} // 'none') . ", next_update " . ($c->{next_update} // 'none'));
    ok(defined $tu && defined $v->{this_epoch} && $tu == $v->{this_epoch},
       "... and that thisUpdate is the staple's");
    my $nr = eval { rfc3339($c->{next_refresh}) };
    ok(defined $nr && defined $nu && $nr < $nu, '... the refresh is scheduled before the assumed nextUpdate');
    # kept across a graceful restart (carried over) and a full one (the
    # store: derived again from the same thisUpdate, never from the time
    # it is loaded)
    $h->graceful;
    my $g = {};
    wait_until(10, sub { $g = cert_json($sport); defined $g->{next_update} }, 0.25);
    is($g->{next_update}, $c->{next_update}, '... the same nextUpdate after a graceful restart');
    $h->stop;
    sleep 1;
    $h->start;
    my $f = {};
    wait_until(10, sub { $f = cert_json($sport); defined $f->{next_update} }, 0.25);
    ok(defined $f->{next_update} && ($f->{source} // '') eq 'store'
       && $f->{this_update} eq ($c->{this_update} // '')
       && $f->{next_update} eq $c->{next_update},
       '... and after a full restart, from the store: the same thisUpdate and nextUpdate')
        or diag("before $c->{this_update} .. $c->{next_update}, after " . ($f->{this_update} // 'none') . " .. " . ($f->{next_update} // 'none'));
    $h->stop;
}

# --- https:// responder --------------------------------------------------------
for my $privsep (1, 0) {
    my $label = $privsep ? 'helper' : 'parent';
    my $before = scalar(front_lines());
    my ($h, $sport) = server("https-$label", "OCSPPrefetchResponderCAFile $tls/tlsca.pem\n"
                                           . ($privsep ? '' : "OCSPPrefetchPrivsep off\n"),
                             "OCSPPrefetchResponder https://127.0.0.1:$fport/good/\n");
    $h->start;
    my $v = stapled($h);
    ok($v->{verify_ok} && ($v->{status} // '') eq 'good', "$label: https:// responder with its CA file: stapled");
    my @ok = grep { / ok$/ } (front_lines())[$before .. scalar(front_lines()) - 1];
    ok(scalar @ok, "$label: ... fetched through the TLS front");
    $h->stop;
}

{
    my $before = scalar(front_lines());
    my ($h, $sport) = server('https-wrongca', "OCSPPrefetchResponderCAFile $tls/otherca.pem\n",
                             "OCSPPrefetchResponder https://127.0.0.1:$fport/good/\n");
    $h->start;
    my @l;
    wait_until(20, sub { @l = $h->log_lines(qr/good\.test.*OCSP fetch failed: TLS: the responder's certificate is not accepted/) }, 0.25);
    ok(scalar @l, 'https:// responder, another CA file: the fetch fails, the reason says the certificate is not accepted')
        or diag($h->log_tail);
    like($l[0] // '', qr/OCSPPrefetchResponderCAFile/, '... and names OCSPPrefetchResponderCAFile');
    ok(never_stapled($h), '... nothing is stapled');
    ok(grep({ /handshake-failed/ } (front_lines())[$before .. scalar(front_lines()) - 1]),
       '... the front saw the handshake fail');
    $h->stop;
}

{
    my ($h, $sport) = server('https-wrongname', "OCSPPrefetchResponderCAFile $tls/tlsca.pem\n",
                             "OCSPPrefetchResponder https://localhost:$fport/good/\n");
    $h->start;
    my @l;
    wait_until(20, sub { @l = $h->log_lines(qr/good\.test.*OCSP fetch failed: TLS: the responder's certificate is not accepted for localhost: hostname mismatch/) }, 0.25);
    ok(scalar @l, 'https:// responder, right CA, a name the certificate is not for: refused as a hostname mismatch')
        or diag($h->log_tail);
    ok(never_stapled($h), '... nothing is stapled');
    $h->stop;
}

{
    my $before = scalar(front_lines());
    my ($h, $sport) = server('aia-https', '', '', vname => 'aiahttps', certfile => "$tls/aia.chain.pem");
    $h->{vhosts}[0]{servername} = 'aiahttps.test';
    $h->write_config;
    $h->start;
    my @l;
    wait_until(10, sub { @l = $h->log_lines(qr/ignoring OCSP responder URL 'https:\/\/127\.0\.0\.1:$fport\/good\/'.*https is not taken from a certificate/) }, 0.25);
    ok(scalar @l, 'an https:// responder in the AIA: ignored, the log says why') or diag($h->log_tail);
    sleep 2;
    is(scalar(front_lines()), $before, '... and never contacted');
    $h->stop;
}

# --- responder statuses that say what to change ----------------------------------
for my $case ([ unauthorized => qr/responder status unauthorized \(6\): the responder does not serve this CA or certificate; check OCSPPrefetchResponder/ ],
              [ malformed => qr/responder status malformedRequest \(1\): .*nonce/ ]) {
    my ($mode, $re) = @$case;
    my ($h, $sport) = server("status-$mode", '', "OCSPPrefetchResponder http://127.0.0.1:$rp/$mode/\n");
    $h->start;
    my @l;
    wait_until(20, sub { @l = $h->log_lines(qr/good\.test.*$re/) }, 0.25);
    ok(scalar @l, "$mode: the log line says what to change") or diag($h->log_tail);
    ok(never_stapled($h), "$mode: nothing is stapled");
    $h->stop;
}

# --- signed with SHA-1 (openssl ocsp -rmd sha1): stapled where the local
# policy allows it (OpenSSL 3.0's default); where it refuses SHA-1, the
# reason says so (t/unit/test_validate.c, under a policy made there)
{
    my ($h, $sport) = server('sha1', '', "OCSPPrefetchResponder http://127.0.0.1:$rp/sha1/\n");
    $h->start;
    my $v = stapled($h);
    my $refused = $h->log_lines(qr/good\.test.*signed with SHA-1, which the local crypto policy refuses/);
    ok(($v->{verify_ok} && ($v->{status} // '') eq 'good') || $refused,
       'a response signed with SHA-1: stapled, or refused with the SHA-1 reason')
        or diag($h->log_tail);
    $h->stop;
}

# --- https:// through OCSPPrefetchProxy: refused at start-up -----------------------
{
    my ($h, $sport) = server('https-proxy', "OCSPPrefetchProxy http://127.0.0.1:9/\n",
                             "OCSPPrefetchResponder https://127.0.0.1:$fport/good/\n");
    my $err = eval { $h->start(timeout => 10); '' } // $@;
    $h->stop;
    like(($err // '') . (slurp($h->error_log) // ''),
         qr/https:\/\/ OCSPPrefetchResponder \S+ cannot be reached through OCSPPrefetchProxy/,
         'https:// responder behind OCSPPrefetchProxy: the server refuses to start, saying why');
}
