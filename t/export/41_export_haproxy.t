# The HAProxy example of docs/directives.md (OCSPPrefetchExport), run for
# real (issue 16, item 2): HAProxy (Debian's package) staples the file the
# module exports, and the notify script of the docs, taken from the docs
# as written (only its socket path adapted), pushes each new response
# into the running HAProxy through its runtime API (socat), no reload.
#
# short.test with day-long responses (HAProxy treats a response as expired
# 5 minutes before its nextUpdate) and OCSPPrefetchRenewWindow 86395s:
# renewed about every second. HAProxy serves the same certificate from DIR/short.chain.pem
# (certificate, key, chain), so that it loads DIR/short.chain.pem.ocsp, the
# module's export, at its start. Then, over 6 s, HAProxy's staple changes
# to newer responses, each one verifies, and each is one the module
# exported (the "exported" events' files, as the script saw them).
# Teeth: without the script (or with a wrong socket), HAProxy keeps the
# response it loaded at start (test 4 fails).
use strict;
use warnings;
use FindBin; use lib "$FindBin::Bin/../lib";
use Apache::Test qw(-withtestmore);
use File::Copy qw(copy);
use File::Path qw(make_path remove_tree);
use POSIX qw(setsid :sys_wait_h);
use Time::HiRes qw(time sleep);
use OCSPTest qw(module_built wait_until responder_port free_port slurp leaf top_dir);
use OCSPTest::Httpd;
use OCSPTest::Client qw(get_staple verify_staple);

sub which { my $b = shift; for (split /:/, "$ENV{PATH}:/usr/sbin:/usr/bin") { return "$_/$b" if -x "$_/$b" } undef }
my ($haproxy, $socat) = (which('haproxy'), which('socat'));
plan tests => 6, need {
    'module not built (stand-in run)' => module_built(),
    'haproxy and socat (Debian packages) needed' => ($haproxy && $socat),
};

my $rp = responder_port();
my $h = OCSPTest::Httpd->new(name => 't41-haproxy',
    vhosts => [ { name => 'short', conf => "OCSPPrefetch on\nOCSPPrefetchResponder http://127.0.0.1:$rp/good/\n" } ]);
my $root = $h->root;
my $dir = "$root/export";
remove_tree($dir);
make_path($dir);
chmod 0755, $dir;
my $sock = "$root/haproxy.sock";
unlink $sock;

# --- the docs' script, as written -----------------------------------------
my $docs = slurp(top_dir() . '/docs/directives.md') // '';
my ($script) = $docs =~ m{```sh\n(#!/bin/sh\n# OCSPPrefetchNotifyCmd /usr/local/sbin/ocsp-to-haproxy\n.*?)```}s;
ok($script && $script =~ m{unix-connect:/run/haproxy/admin\.sock}, 'docs/directives.md has the HAProxy script')
    or diag('not found');
$script //= '';
$script =~ s{/run/haproxy/admin\.sock}{$sock};
# what the script was given, for the test (after the docs' own lines)
$script .= "echo \"\$5\" >> $root/pushed.txt\ncp \"\$5\" \"$root/pushed-\$(date +%s%N).der\"\n";
open my $fh, '>', "$root/ocsp-to-haproxy" or die $!;
print $fh $script;
close $fh;
chmod 0755, "$root/ocsp-to-haproxy";

$h->{global} = "OCSPPrefetchExport $dir\nOCSPPrefetchNotifyCmd $root/ocsp-to-haproxy\n"
             . "OCSPPrefetchRenewWindow 86395s\nOCSPPrefetchRetryDelay 1s 2s\n";
$h->write_config;
$h->start;
my $exported = "$dir/short.chain.pem.ocsp";
wait_until(10, sub { -s $exported }, 0.1);

# --- HAProxy, with the certificate next to the export -----------------------
my $l = leaf('short');
{
    open my $out, '>', "$dir/short.chain.pem" or die $!;
    for my $f ($l->{chain}, $l->{key}) { print $out slurp($f) }
    close $out;
    chmod 0600, "$dir/short.chain.pem";
}
my $hport = free_port();
open my $cf, '>', "$root/haproxy.cfg" or die $!;
print $cf <<"EOC";
global
    stats socket $sock mode 600 level admin
defaults
    mode http
    timeout connect 5s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:$hport ssl crt $dir/short.chain.pem
    http-request return status 200 content-type text/plain string ok
EOC
close $cf;
my $hpid = fork // die;
if (!$hpid) {
    setsid();
    open STDIN, '<', '/dev/null';
    open STDOUT, '>', "$root/haproxy.out";
    open STDERR, '>&', \*STDOUT;
    exec $haproxy, '-db', '-f', "$root/haproxy.cfg";
    exit 127;
}
END { local $?; if ($hpid && $$ != ($hpid // 0)) { kill 'TERM', $hpid; waitpid $hpid, 0 } }
my $up = wait_until(10, sub { get_staple(port => $hport, sni => 'short.test', timeout => 2)->{ok} }, 0.1);
my $g0 = get_staple(port => $hport, sni => 'short.test', timeout => 3);
my $v0 = $g0->{der} ? verify_staple($g0->{der}, 'short') : {};
ok($up && $v0->{verify_ok} && ($v0->{status} // '') eq 'good',
   'HAProxy staples the file the module exported, loaded at its start')
    or diag((slurp("$root/haproxy.out") // '') . ($v0->{text} // ''));

# --- renewals pushed through the runtime API --------------------------------
my %seen = ($g0->{der} // '' => 1);
my ($bad, $newer) = (0, 0);
my $last_this = $v0->{this_epoch} // 0;
my $end = time + 6;
while (time < $end) {
    my $g = get_staple(port => $hport, sni => 'short.test', timeout => 3);
    if ($g->{der} && !$seen{$g->{der}}++) {
        my $v = verify_staple($g->{der}, 'short');
        $bad++ unless $v->{verify_ok} && ($v->{status} // '') eq 'good';
        $newer++ if ($v->{this_epoch} // 0) > $last_this;
        $last_this = $v->{this_epoch} // $last_this;
    }
    sleep 0.3;
}
my $changes = keys(%seen) - 1;
ok($changes >= 2, "HAProxy's staple changed $changes times in 6 s, without a reload");
ok($changes && $newer == $changes && !$bad, "... each time to a newer response that verifies ($newer newer, $bad bad)");
my @pushed = grep { /\.der$/ } glob("$root/pushed-*.der");
my %pushed = map { (slurp($_) // '' => 1) } @pushed;
my $from_module = grep { $pushed{$_} } grep { $_ ne ($g0->{der} // '') } keys %seen;
ok($from_module == $changes, "... each one a response the module exported and the script pushed ($from_module of $changes)");
my @lines = split /\n/, slurp("$root/pushed.txt") // '';
ok(@lines >= 2 && !grep({ $_ ne $exported } @lines), 'the script was given the exported file\'s path');

kill 'TERM', $hpid;
waitpid $hpid, 0;
$hpid = 0;
$h->stop;
