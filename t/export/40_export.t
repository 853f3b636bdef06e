# OCSPPrefetchExport (issue 16, item 2): staples for the host's other TLS
# servers (HAProxy, nginx ssl_stapling_file, Exim, lighttpd).
#
# Server with OCSPPrefetchExport DIR and OCSPPrefetchNotifyCmd:
#   - DIR is created 0755; each certificate's newest accepted response is
#     there as DER, 0644, named after its certificate file
#     (good.chain.pem.ocsp, as HAProxy looks for it next to the
#     certificate), or KEY.ocsp when two certificate files share a name
#     (a/site.pem, b/site.pem);
#   - the files hold exactly what is stapled, verified against the CA;
#   - short.test renews every second: its file changes, every read of it
#     (200, while it is being replaced) is one whole DER response, never a
#     partial one, and no temporary file is left visible;
#   - the notify command gets "exported SUBJECT SERIAL KEY PATH" after
#     each write, PATH the file (readable then);
#   - a world-writable DIR is refused with a clear error line, stapling
#     goes on.
use strict;
use warnings;
use FindBin; use lib "$FindBin::Bin/../lib";
use Apache::Test qw(-withtestmore);
use File::Copy qw(copy);
use File::Path qw(make_path remove_tree);
use Time::HiRes qw(time sleep);
use OCSPTest qw(module_built wait_until responder_port slurp leaf leaf_serial);
use OCSPTest::Httpd;
use OCSPTest::Client qw(verify_staple);
use OCSPTest::Persist qw(store_key);
use OCSPTest::Status qw(write_notify_script read_events);

plan tests => 12, need { 'module not built (stand-in run)' => module_built() };

my $rp = responder_port();
my $h;
my @vh = (
    { name => 'good',  conf => "OCSPPrefetch on\nOCSPPrefetchResponder http://127.0.0.1:$rp/good/\n" },
    { name => 'short', conf => "OCSPPrefetch on\nOCSPPrefetchResponder http://127.0.0.1:$rp/short/\n" },
    { name => 'dflt',  conf => "OCSPPrefetch on\nOCSPPrefetchResponder http://127.0.0.1:$rp/good/\n" },
    { name => 'get',   conf => "OCSPPrefetch on\nOCSPPrefetchResponder http://127.0.0.1:$rp/good/\n" },
);
$h = OCSPTest::Httpd->new(name => 't40-export', vhosts => \@vh);
my $root = $h->root;
my $dir = "$root/export";
remove_tree($dir);
# two certificate files of the same name in different directories
for my $x ([ 'a', 'dflt' ], [ 'b', 'get' ]) {
    make_path("$root/$x->[0]");
    chmod 0755, "$root/$x->[0]";
    copy(leaf($x->[1])->{chain}, "$root/$x->[0]/site.pem") or die $!;
    chmod 0644, "$root/$x->[0]/site.pem";
    $_->{certfile} = "$root/$x->[0]/site.pem" for grep { $_->{name} eq $x->[1] } @vh;
}
my $out = "$root/events.txt";
unlink $out;
write_notify_script("$root/notify.pl", $out, 'ok');
$h->{global} = "OCSPPrefetchExport $dir\nOCSPPrefetchNotifyCmd notify.pl\n"
             . "OCSPPrefetchRenewWindow 59s\nOCSPPrefetchRetryDelay 1s 2s\n";
$h->write_config;
$h->start;

my %file = (good => "$dir/good.chain.pem.ocsp", short => "$dir/short.chain.pem.ocsp",
            dflt => "$dir/" . store_key('dflt') . ".ocsp", get => "$dir/" . store_key('get') . ".ocsp");
my $all = wait_until(15, sub { !grep { !-f $file{$_} } keys %file }, 0.2);
my @st = stat $dir;
ok($all && @st && ($st[2] & 07777) == 0755,
   'DIR created 0755; a file per certificate: good.chain.pem.ocsp, short.chain.pem.ocsp, and KEY.ocsp for the two site.pem')
    or diag(join ' ', map { "$_:" . (-f $file{$_} ? 'yes' : 'no') } sort keys %file);
my @not644 = grep { ((stat $file{$_})[2] & 07777) != 0644 } keys %file;
ok(!@not644, 'the files are 0644') or diag("@not644");

my $g = $h->staple('good', timeout => 3);
my $gf = slurp($file{good}) // '';
my $v = verify_staple($gf, 'good');
ok($g->{der} && $gf eq $g->{der} && $v->{verify_ok} && ($v->{status} // '') eq 'good',
   "good.chain.pem.ocsp holds the response stapled, which verifies");
my ($d1, $d2) = map { my $f = slurp($file{$_}) // ''; verify_staple($f, $_) } qw(dflt get);
ok($d1->{verify_ok} && ($d1->{status} // '') eq 'good' && $d2->{verify_ok} && ($d2->{status} // '') eq 'good',
   "the KEY.ocsp files hold each certificate's own response");

# --- replaced atomically while short.test renews every second ----------------
my $first = slurp($file{short}) // '';
my ($reads, $partial, $changed) = (0, 0, 0);
my $t_end = time + 4;
while (time < $t_end) {
    open my $fh, '<', $file{short} or next;
    binmode $fh;
    local $/;
    my $c = <$fh> // '';
    close $fh;
    $reads++;
    # DER SEQUENCE with a two-byte length: the whole response is 4 + LEN
    my ($tag, $lb, $len) = unpack('C C n', $c);
    $partial++ unless defined $len && $tag == 0x30 && $lb == 0x82 && length($c) == 4 + $len;
    $changed++ if $c ne $first;
    sleep 0.02;
}
ok($reads >= 100 && !$partial, "$reads reads while the file is replaced: every one a whole DER response ($partial partial)");
ok($changed, 'short.chain.pem.ocsp changed as the response was renewed');
opendir my $dh, $dir or die;
my @tmp = grep { /tmp/ } readdir $dh;
ok(!@tmp, 'no temporary file left in DIR') or diag("@tmp");
my $sv = verify_staple(slurp($file{short}) // '', 'short');
ok($sv->{verify_ok} && ($sv->{status} // '') eq 'good', '... and it still verifies');

# --- the notify command ------------------------------------------------------------
my @ev = grep { ($_->{args}[0] // '') eq 'exported' } read_events($out);
my @short_ev = grep { ($_->{args}[4] // '') eq $file{short} } @ev;
ok(@short_ev >= 2 && $short_ev[0]{args}[2] eq leaf_serial('short') && $short_ev[0]{args}[3] eq store_key('short'),
   'the notify command gets "exported SUBJECT SERIAL KEY PATH" after each write of short.test (' . scalar(@short_ev) . ')')
    or diag(join "\n", map { $_->{line} } @ev[0 .. ($#ev < 5 ? $#ev : 5)]);
ok((grep { ($_->{args}[4] // '') eq $file{good} } @ev) == 1,
   '... once for good.test (written once)');

# --- refused: a directory others can write ------------------------------------------
$h->stop;
my $bad = "$root/export-open";
make_path($bad);
chmod 0777, $bad;
$h->{global} = "OCSPPrefetchExport $bad\nOCSPPrefetchRenewWindow 59s\n";
$h->write_config;
$h->start;
my @refused = $h->log_lines(qr/OCSPPrefetchExport: refusing to use \Q$bad\E: .*writable by group or others.*; not exporting/);
ok(scalar @refused, 'a world-writable export directory is refused, with the reason') or diag($h->log_tail);
my $g2 = $h->staple('good', timeout => 3);
ok($g2->{der} && !glob("$bad/*"), '... stapling goes on, nothing written there');
$h->stop;
