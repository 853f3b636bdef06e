# Every directive's bad argument makes `apache2 -t` fail with a message naming
# the directive; a good configuration passes.
use strict;
use warnings;
use FindBin; use lib "$FindBin::Bin/../lib";
use Apache::Test qw(-withtestmore);
use OCSPTest qw(module_built);
use OCSPTest::Httpd;

my @bad = (
    # [ directive, argument, where (global|vhost) ]
    [ 'OCSPPrefetch',            'maybe',          'vhost'  ],
    [ 'OCSPPrefetchTimeout',     '0',              'global' ],
    [ 'OCSPPrefetchTimeout',     'abc',            'global' ],
    [ 'OCSPPrefetchRenewWindow', '100%',           'global' ],
    [ 'OCSPPrefetchRenewWindow', '0%',             'global' ],
    [ 'OCSPPrefetchRenewWindow', '5x',             'global' ],
    [ 'OCSPPrefetchRenewWindow', '50',             'global' ],   # % or s? a unit is required
    [ 'OCSPPrefetchStartupWait', '-1',             'global' ],
    [ 'OCSPPrefetchResponder',   'ftp://127.0.0.1:9/good/', 'vhost' ],
    [ 'OCSPPrefetchResponder',   'https://user@127.0.0.1:9/good/', 'vhost' ],
    [ 'OCSPPrefetchAssumeValidity', '30s',         'vhost'  ],   # < 1 min
    [ 'OCSPPrefetchAssumeValidity', '8d',          'global' ],   # > 7 days
    [ 'OCSPPrefetchAssumeValidity', 'abc',         'vhost'  ],
    [ 'OCSPPrefetchAssumeValidity', '-1h',         'global' ],
    [ 'OCSPPrefetchResponderCAFile', '/nonexistent/ca.pem', 'global' ],
    [ 'OCSPPrefetchResponderCAFile', '/etc/passwd', 'global' ],  # no certificate
    [ 'OCSPPrefetchResponderCAFile', '/etc/ssl/certs/ca-certificates.crt', 'vhost' ], # global only
    [ 'OCSPPrefetchResponder',   'not-a-url',      'vhost'  ],
    [ 'OCSPPrefetchCache',       'nosuchprovider', 'global' ],
    [ 'OCSPPrefetchRetryDelay',  'x',              'global' ],
    [ 'OCSPPrefetchCache',       'shmcb',          'vhost'  ],   # global only
    [ 'OCSPPrefetchRetryDelay',  '30s 1s',         'global' ],   # max < min
    [ 'OCSPPrefetchStore',       '""',             'global' ],
    [ 'OCSPPrefetchStore',       'off',            'vhost'  ],   # global only
    [ 'OCSPPrefetchKeepResponse', 'abc',           'global' ],
    [ 'OCSPPrefetchKeepResponse', '-1d',           'global' ],
    [ 'OCSPPrefetchKeepResponse', '7d',            'vhost'  ],   # global only
    [ 'OCSPPrefetchMaxParallel', '0',              'global' ],
    [ 'OCSPPrefetchMaxParallel', '2000',           'global' ],   # > 1024
    [ 'OCSPPrefetchMaxParallel', '8x',             'global' ],
    [ 'OCSPPrefetchMaxParallel', '8',              'vhost'  ],   # global only
    [ 'OCSPPrefetchMaxPerHost',  '-1',             'global' ],
    [ 'OCSPPrefetchMaxPerHost',  'many',           'global' ],
    [ 'OCSPPrefetchMaxPerHost',  '4',              'vhost'  ],   # global only
    [ 'OCSPPrefetchPrivsep',     'maybe',          'global' ],
    [ 'OCSPPrefetchPrivsep',     'on /nonexistent/ocsp-prefetch-helper', 'global' ],
    [ 'OCSPPrefetchPrivsep',     'off /bin/true',  'global' ],
    [ 'OCSPPrefetchPrivsep',     'off',            'vhost'  ],   # global only
    [ 'OCSPPrefetchStatusRefetch', 'maybe',        'global' ],
    [ 'OCSPPrefetchStatusRefetch', 'on',           'vhost'  ],   # global only
    [ 'OCSPPrefetchExport',      '""',             'global' ],
    [ 'OCSPPrefetchExport',      '/tmp/x',         'vhost'  ],   # global only
    [ 'OCSPPrefetchProxy',       'https://127.0.0.1:3128', 'vhost' ],
    [ 'OCSPPrefetchProxy',       'ftp://127.0.0.1:21',     'global' ],
    [ 'OCSPPrefetchProxy',       'http://127.0.0.1:3128/path', 'global' ],
    [ 'OCSPPrefetchProxy',       'http://127.0.0.1:99999', 'global' ],  # port
    [ 'OCSPPrefetchNoProxy',     'localhost',      'vhost'  ],   # global only
    [ 'OCSPPrefetchHelperUser',  'root',           'global' ],   # uid 0
    [ 'OCSPPrefetchHelperUser',  '"bad name"',     'global' ],
    [ 'OCSPPrefetchHelperUser',  '../etc',         'global' ],
    [ 'OCSPPrefetchHelperUser',  'daemon',         'vhost'  ],   # global only
    [ 'OCSPPrefetchNotifier',    '/nonexistent/ocsp-prefetch-notifier', 'global' ],
    [ 'OCSPPrefetchNotifier',    '/etc/passwd',    'global' ],   # not executable
    [ 'OCSPPrefetchNotifier',    '/bin/true',      'vhost'  ],   # global only
);

plan tests => 2 * @bad + 6, need { 'module not built (stand-in run)' => module_built() };

my $good = <<'EOC';
OCSPPrefetchTimeout 5
OCSPPrefetchRenewWindow 50%
OCSPPrefetchStartupWait 2
OCSPPrefetchRetryDelay 1s 30s
OCSPPrefetchCache shmcb
OCSPPrefetchKeepResponse 2d
OCSPPrefetchMaxParallel 32
OCSPPrefetchMaxPerHost 4
OCSPPrefetchStatusRefetch on
OCSPPrefetchExport /tmp/opf-configtest-export
OCSPPrefetchProxy http://user:p%40ss@127.0.0.1:3128
OCSPPrefetchNoProxy localhost .example.org 127.0.0.1
OCSPPrefetchHelperUser no-such-user-opf
OCSPPrefetchAssumeValidity 12h
OCSPPrefetchResponderCAFile /etc/ssl/certs/ca-certificates.crt
EOC

my $h = OCSPTest::Httpd->new(name => 'configtest', global => $good,
    vhosts => [ { name => 'good', port => 9, conf => "OCSPPrefetch on\nOCSPPrefetchResponder https://127.0.0.1:9/good/\nOCSPPrefetchAssumeValidity off\n" } ]);
my ($rc, $out) = $h->configtest;
is($rc, 0, 'good configuration passes apache2 -t') or diag($out);
like($out, qr/Syntax OK/, 'Syntax OK');

# An https:// responder that OCSPPrefetchProxy would apply to: refused by
# apache2 -t (no CONNECT tunnel), not only when the server starts.
{
    (my $viaproxy = $good) =~ s/ 127\.0\.0\.1\n/\n/;
    my $t = OCSPTest::Httpd->new(name => 'configtest', global => $viaproxy,
        vhosts => [ { name => 'good', port => 9, conf => "OCSPPrefetch on\nOCSPPrefetchResponder https://127.0.0.1:9/good/\n" } ]);
    my ($rc2, $out2) = $t->configtest;
    isnt($rc2, 0, 'an https:// responder behind OCSPPrefetchProxy fails apache2 -t');
    like($out2, qr/https:\/\/ OCSPPrefetchResponder \S+ cannot be reached through OCSPPrefetchProxy.*OCSPPrefetchNoProxy/,
         '... saying why and what to do') or diag($out2);
}

for my $b (@bad) {
    my ($dir, $arg, $where) = @$b;
    my $line = "$dir $arg\n";
    my $t = OCSPTest::Httpd->new(name => 'configtest',
        global => $where eq 'global' ? $line : '',
        vhosts => [ { name => 'good', port => 9,
                      conf => "OCSPPrefetch on\n" . ($where eq 'vhost' ? $line : '') } ]);
    my ($rc, $out) = $t->configtest;
    isnt($rc, 0, "apache2 -t fails for '$dir $arg' ($where)") or diag($out);
    like($out, qr/\Q$dir\E/i, "... and the message names $dir") or diag($out);
}

# A bare number is ambiguous (50% or 50 s?): the message says which forms
# are accepted.
{
    my $t = OCSPTest::Httpd->new(name => 'configtest', global => "OCSPPrefetchRenewWindow 50\n",
        vhosts => [ { name => 'good', port => 9, conf => "OCSPPrefetch on\n" } ]);
    my ($rc, $out) = $t->configtest;
    like($out, qr/OCSPPrefetchRenewWindow '50': .*without a unit.*\b50%.*\b12h\b.*\b30m\b.*\b45s\b/,
         "'OCSPPrefetchRenewWindow 50': the message names the accepted forms (50%, 12h, 30m, 45s)") or diag($out);
    $t = OCSPTest::Httpd->new(name => 'configtest', global => "OCSPPrefetchRenewWindow 45s\nOCSPPrefetchKeepResponse 0\n",
        vhosts => [ { name => 'good', port => 9, conf => "OCSPPrefetch on\n" } ]);
    ($rc, $out) = $t->configtest;
    is($rc, 0, "'OCSPPrefetchRenewWindow 45s' and 'OCSPPrefetchKeepResponse 0' (documented range 0 to 3650 d) pass") or diag($out);
}
