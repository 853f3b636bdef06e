# The nginx example of docs/directives.md (OCSPPrefetchExport), run for
# real (issue 16, item 2): nginx (Debian's package) staples the exported
# file through ssl_stapling_file, and the notify script of the docs, taken
# from the docs as written (only nginx's -p/-c added so that it reloads
# this test's nginx), reloads it after each renewal.
#
# short.test with day-long responses renewed about every second
# (OCSPPrefetchRenewWindow 86395s, as in t/41). nginx starts once the file
# exists; over 8 s its staple changes to newer responses, each verifies and
# each is one the module exported.
# Teeth: without the script, nginx keeps the response it read at start
# (test 3 fails).
use strict;
use warnings;
use FindBin; use lib "$FindBin::Bin/../lib";
use Apache::Test qw(-withtestmore);
use File::Path qw(make_path remove_tree);
use File::Copy qw(copy);
use POSIX qw(setsid);
use Time::HiRes qw(time sleep);
use OCSPTest qw(module_built wait_until responder_port free_port slurp leaf top_dir);
use OCSPTest::Httpd;
use OCSPTest::Client qw(get_staple verify_staple);

sub which { my $b = shift; for (split /:/, "$ENV{PATH}:/usr/sbin:/usr/bin") { return "$_/$b" if -x "$_/$b" } undef }
my $nginx = which('nginx');
plan tests => 5, need {
    'module not built (stand-in run)' => module_built(),
    'nginx (Debian package) needed' => $nginx,
};

my $rp = responder_port();
my $h = OCSPTest::Httpd->new(name => 't43-nginx',
    vhosts => [ { name => 'short', conf => "OCSPPrefetch on\nOCSPPrefetchResponder http://127.0.0.1:$rp/good/\n" } ]);
my $root = $h->root;
my $dir = "$root/export";
my $np = "$root/nginx";
remove_tree($dir, $np);
make_path($dir, "$np/logs", "$np/tmp");
chmod 0755, $dir;
my $nconf = "$np/nginx.conf";

# --- the docs' script, as written ---------------------------------------------
my $docs = slurp(top_dir() . '/docs/directives.md') // '';
my ($script) = $docs =~ m{```sh\n(#!/bin/sh\n# OCSPPrefetchNotifyCmd /usr/local/sbin/ocsp-to-nginx\n.*?)```}s;
ok($script && $script =~ /exec nginx -s reload/, 'docs/directives.md has the nginx script');
$script //= '';
# this test's nginx; and a copy of what it was given, before the reload
$script =~ s{exec nginx -s reload}{cp "\$5" "$root/pushed-\$(date +%s%N).der"\nexec $nginx -p $np -c $nconf -s reload};
open my $fh, '>', "$root/ocsp-to-nginx" or die $!;
print $fh $script;
close $fh;
chmod 0755, "$root/ocsp-to-nginx";

$h->{global} = "OCSPPrefetchExport $dir\nOCSPPrefetchNotifyCmd $root/ocsp-to-nginx\n"
             . "OCSPPrefetchRenewWindow 86395s\nOCSPPrefetchRetryDelay 1s 2s\n";
$h->write_config;
$h->start;
my $exported = "$dir/short.chain.pem.ocsp";
wait_until(10, sub { -s $exported }, 0.1);

# --- nginx ------------------------------------------------------------------------
my $l = leaf('short');
my $port = free_port();
open my $cf, '>', $nconf or die $!;
print $cf <<"EOC";
daemon off;
master_process on;
worker_processes 1;
pid $np/nginx.pid;
error_log $np/logs/error.log;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path $np/tmp/body;
    proxy_temp_path $np/tmp/proxy;
    fastcgi_temp_path $np/tmp/fastcgi;
    uwsgi_temp_path $np/tmp/uwsgi;
    scgi_temp_path $np/tmp/scgi;
    server {
        listen 127.0.0.1:$port ssl;
        server_name short.test;
        ssl_certificate $l->{chain};
        ssl_certificate_key $l->{key};
        ssl_stapling on;
        ssl_stapling_file $exported;
        location / { return 200 "ok\\n"; }
    }
}
EOC
close $cf;
my $npid = fork // die;
if (!$npid) {
    setsid();
    open STDIN, '<', '/dev/null';
    open STDOUT, '>', "$np/out";
    open STDERR, '>&', \*STDOUT;
    exec $nginx, '-p', $np, '-c', $nconf;
    exit 127;
}
END { local $?; if ($npid && $$ != ($npid // 0)) { kill 'QUIT', $npid; waitpid $npid, 0 } }
my $up = wait_until(10, sub { get_staple(port => $port, sni => 'short.test', timeout => 2)->{ok} }, 0.1);
my $g0 = get_staple(port => $port, sni => 'short.test', timeout => 3);
my $v0 = $g0->{der} ? verify_staple($g0->{der}, 'short') : {};
ok($up && $v0->{verify_ok} && ($v0->{status} // '') eq 'good', 'nginx staples the exported file (ssl_stapling_file)')
    or diag((slurp("$np/logs/error.log") // '') . ($v0->{text} // ''));

# --- renewals, each followed by a reload --------------------------------------------
my %seen = ($g0->{der} // '' => 1);
my ($bad, $newer) = (0, 0);
my $last_this = $v0->{this_epoch} // 0;
my $end = time + 8;
while (time < $end) {
    my $g = get_staple(port => $port, sni => 'short.test', timeout => 3);
    if ($g->{der} && !$seen{$g->{der}}++) {
        my $v = verify_staple($g->{der}, 'short');
        $bad++ unless $v->{verify_ok} && ($v->{status} // '') eq 'good';
        $newer++ if ($v->{this_epoch} // 0) > $last_this;
        $last_this = $v->{this_epoch} // $last_this;
    }
    sleep 0.3;
}
my $changes = keys(%seen) - 1;
ok($changes >= 2, "nginx's staple changed $changes times in 8 s (reloaded by the script)");
ok($changes && $newer == $changes && !$bad, "... each time to a newer response that verifies ($newer newer, $bad bad)");
my %pushed = map { (slurp($_) // '' => 1) } glob("$root/pushed-*.der");
my $from_module = grep { $pushed{$_} } grep { $_ ne ($g0->{der} // '') } keys %seen;
ok($from_module == $changes, "... each one a response the module exported ($from_module of $changes)");

kill 'QUIT', $npid;
waitpid $npid, 0;
$npid = 0;
$h->stop;
