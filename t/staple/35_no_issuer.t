# A certificate mod_ssl never offers for stapling is never silent (issue 16,
# item 4).  mod_ssl primes a certificate only when it finds its issuer; a
# vhost whose SSLCertificateFile holds the server certificate alone (no
# intermediate after it) is therefore never stapled, by anyone.  With
# OCSPPrefetch on, the module sees the configured file through httpd's
# ssl_add_cert_files hook and says so:
#  - one warning at startup naming the certificate, the vhost and the file,
#    and what to do; none for a vhost with OCSPPrefetch off;
#  - a row on the status page (JSON status "no_issuer", its vhost), counted
#    in the summary; the other vhost is stapled as usual;
#  - again (once) after a graceful restart, not once per restart and vhost.
use strict;
use warnings;
use FindBin; use lib "$FindBin::Bin/../lib";
use Apache::Test qw(-withtestmore);
use OCSPTest qw(module_built free_port leaf);
use OCSPTest::Httpd;
use OCSPTest::Client qw(verify_staple);
use OCSPTest::Status qw(status_vhost status_json);

plan tests => 10, need { 'module not built (stand-in run)' => module_built() };

my $sport = free_port();
my $alone = leaf('startup')->{cert};     # the server certificate, no issuer
my $h = OCSPTest::Httpd->new(name => 't35-noissuer',
    global => status_vhost($sport),
    vhosts => [
        { name => 'good',    conf => "OCSPPrefetch on\n" },
        { name => 'startup', conf => "OCSPPrefetch on\n", certfile => $alone },
        # the same file in a vhost that leaves stapling alone: not ours
        { name => 'post',    conf => "OCSPPrefetch off\n", certfile => leaf('post')->{cert} },
    ]);
$h->start;

my @warn = $h->log_lines(qr/mod_ssl did not offer it for stapling/);
is(scalar(@warn), 1, 'one warning for the certificate without issuer')
    or diag(join "\n", @warn);
like($warn[0] // '', qr/\[ocsp_prefetch:warn\].*CN=startup\.test.* of startup\.test .*\Q$alone\E.*intermediate CA certificate after the server certificate/,
     '... at warn, naming the certificate, the vhost, the file and what to do');
is(scalar(grep { /post\.test/ } @warn), 0, 'none for the vhost with OCSPPrefetch off');

my $g = $h->staple('startup');
ok($g->{ok} && !defined $g->{der}, 'the vhost answers, without a staple');
my $gg = $h->staple('good');
my $v = $gg->{der} ? verify_staple($gg->{der}, 'good') : {};
ok($v->{verify_ok} && ($v->{status} // '') eq 'good', 'the other vhost is stapled as usual');

my $j = eval { status_json($sport) } || {};
my ($row) = grep { ($_->{subject} // '') =~ /CN=startup\.test/ } @{ $j->{certificates} || [] };
is($row && $row->{status}, 'no_issuer', 'status page: a row for it, status no_issuer')
    or diag(explain($j->{certificates}));
is_deeply($row ? $row->{vhosts} : undef, ['startup.test'], '... with its vhost');
is($j->{summary} && $j->{summary}{no_issuer}, 1, '... counted in the summary (no_issuer 1)');
ok(!grep({ ($_->{subject} // '') =~ /CN=post\.test/ } @{ $j->{certificates} || [] }),
   '... and no row for the vhost with OCSPPrefetch off');

$h->graceful;
is(scalar($h->log_lines(qr/mod_ssl did not offer it for stapling/)), 2,
   'after a graceful restart: said once more (once per generation)');
$h->stop;
