# A responder named by host name (http://localhost:PORT/good/) is resolved by the
# resolver process, not in the prefetch thread: the staple is served, the
# name is looked up once, and there is exactly one resolver process per
# generation, a child of the parent running as the server's User (it only
# resolves names), replaced at every graceful restart and gone after stop.
# Graceful restarts do not wait for the helper processes (resolver,
# notifier). A configuration with IP-address responders only has no
# resolver process. The first server fetches in the parent
# (OCSPPrefetchPrivsep off): with the privsep helper, which resolves its
# own names, the resolver serves only the fallback (t/28).
use strict;
use warnings;
use FindBin; use lib "$FindBin::Bin/../lib";
use Apache::Test qw(-withtestmore);
use IO::Socket::INET;
use Cwd qw(abs_path);
use OCSPTest qw(module_built wait_until responder_port leaf_serial alive helper_path);
use OCSPTest::Httpd;
use OCSPTest::Lifecycle qw(timed_graceful);
use OCSPTest::Client qw(verify_staple);

plan tests => 14, need { 'module not built (stand-in run)' => module_built() };

my $rp = responder_port();

# children of the parent named opf-resolver (comm), with their Uid line
sub resolvers {
    my ($h) = @_;
    my @r;
    for my $pid ($h->children) {
        open my $fh, '<', "/proc/$pid/status" or next;
        my $st = do { local $/; <$fh> };
        next unless $st =~ /^Name:\s*opf-resolver$/m;
        my ($uid) = $st =~ /^Uid:\s*(\d+)/m;
        push @r, [ $pid, $uid ];
    }
    return @r;
}

my $h = OCSPTest::Httpd->new(name => 'resolver',
    global => "LogLevel ocsp_prefetch:debug\nOCSPPrefetchPrivsep off\n",
    vhosts => [ { name => 'resolver', leaf => 'timeout',
                  conf => "OCSPPrefetch on\nOCSPPrefetchResponder http://localhost:$rp/good/\n" } ]);
$h->start;

my $g = $h->staple('resolver');
ok($g->{ok} && defined $g->{der}, 'the certificate of a responder named by name is stapled');
my $v = $g->{der} ? verify_staple($g->{der}, 'timeout') : {};
ok($v->{verify_ok} && ($v->{status} // "") eq "good", "... with a good, valid response") or diag($v->{text} // "no staple");

my @lookups = $h->log_lines(qr/resolving localhost/);
is(scalar @lookups, 1, 'the name was looked up once, by the resolver process');

my @r = resolvers($h);
is(scalar @r, 1, 'one resolver process, a child of the parent');
is($r[0][1] // -1, scalar getpwnam('nobody'), '... running as the User (nobody), not root');

my %seen = map { $_->[0] => 1 } @r;
for my $round (1 .. 3) {
    $h->graceful;
    $g = $h->staple('resolver');
    my @now = resolvers($h);
    ok(@now == 1 && !$seen{$now[0][0]} && $g->{ok} && defined $g->{der},
       "graceful restart $round: one new resolver process, staple served")
        or diag(join ' ', map { $_->[0] } @now);
    $seen{$_->[0]} = 1 for @now;
}
my @old = grep { $_ != (resolvers($h))[0][0] } keys %seen;
ok(!grep({ alive($_) } @old), 'the resolver processes of earlier generations are gone');

my ($last) = map { $_->[0] } resolvers($h);
$h->stop;
ok(wait_until(5, sub { !alive($last) }, 0.05), 'stop ends the resolver process');
unlike($h->log_content, qr/resolver process has gone away|exit signal|Segmentation/,
       'no resolver loss, no crash logged');

# Both helper processes (resolver and notifier) see EOF at a graceful
# restart and exit on their own: httpd's children do not hold copies of
# their channels (before, the notifier was killed after waiting 1 s).
my $n = OCSPTest::Httpd->new(name => 'resolver-notify',
    global => "OCSPPrefetchNotifyCmd /bin/true\n",
    vhosts => [ { name => 'resolver-notify', leaf => 'timeout',
                  conf => "OCSPPrefetch on\nOCSPPrefetchResponder http://localhost:$rp/good/\n" } ]);
$n->start;
# (the privilege separation helper, if any, is kept across restarts: t/45)
my $helper = abs_path(helper_path());
my @before = grep { (readlink("/proc/$_/exe") // '') ne $helper } $n->children;
my @took;
for (1 .. 3) {
    # a half-sent request keeps a child of the old generation busy through
    # the restart, as real traffic does
    my $busy = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $n->port('resolver-notify'),
                                     Timeout => 5);
    print $busy "GET / HTTP/1.1\r\n" if $busy;
    my $r = timed_graceful($n);
    push @took, $r->{ok} ? $r->{to_generation} : 99;
    close $busy if $busy;
}
my $max = (sort { $b <=> $a } @took)[0];
ok($max < 0.9, sprintf('graceful restarts with a resolver and a notifier: new generation after %s s '
                       . '(no helper waited for, then killed)', join(' ', map { sprintf '%.2f', $_ } @took)));
ok(wait_until(5, sub { !grep { alive($_) } @before }, 0.05),
   'every process of the first generation is gone (but a kept privsep helper)');
$n->stop;

# IP addresses only: nothing to resolve, no process
my $ip = OCSPTest::Httpd->new(name => 'resolver-ip',
    vhosts => [ { name => 'resolver-ip', leaf => 'timeout',
                  conf => "OCSPPrefetch on\nOCSPPrefetchResponder http://127.0.0.1:$rp/good/\n" } ]);
$ip->start;
$g = $ip->staple('resolver-ip');
ok($g->{ok} && defined $g->{der} && !resolvers($ip),
   'responders given by IP address: stapled, and no resolver process');
$ip->stop;
