# The store cannot be redirected or stalled (issue 14, item 4; issue 16,
# item 5).
#  1. A FIFO planted in the store under a certificate's file name does not
#     stop httpd from starting (bounded wait): the file is refused with a
#     log line naming it ("not a regular file (a FIFO)") and left alone,
#     the other certificate is stapled from the store (its responder is
#     down), the FIFO's certificate gets no staple and nothing blocks.
#  2. With its responder up, the FIFO's certificate is fetched and stapled,
#     and its response saved: the FIFO is replaced by a regular store file.
#  3. A store directory whose parent is world-writable without the sticky
#     bit is refused at startup, with the ancestor's path, owner and mode in
#     the message; the server starts and staples without a store.
use strict;
use warnings;
use FindBin; use lib "$FindBin::Bin/../lib";
use Apache::Test qw(-withtestmore);
use File::Path ();
use POSIX qw(mkfifo);
use Time::HiRes qw(time);
use OCSPTest qw(module_built free_port wait_until responder_port work_dir);
use OCSPTest::Httpd;
use OCSPTest::Persist qw(store_file read_store write_store);

plan tests => 4 + 7 + 4 + 5,
    need { 'module not built (stand-in run)' => module_built() };

my $rp = responder_port();
my $dead = free_port();                      # nothing listens here
my $on = sub { "OCSPPrefetch on\nOCSPPrefetchResponder http://127.0.0.1:$_[0]/$_[1]/\n" };

# --- good store files for store2 from a first server
my $src = OCSPTest::Httpd->new(name => 't33-src',
    vhosts => [ { name => 'store2', conf => $on->($rp, 'good') } ]);
my $sfile = store_file($src->root . "/ocsp-store", 'store2');
$src->start;
ok(wait_until(10, sub { -s $sfile }, 0.1), 'source server stored a response for store2');
ok($src->stop, 'source server stopped');
my $d2 = read_store($sfile);
ok(defined $d2 && length $d2 > 100, 'it reads back (' . length($d2 // '') . ' bytes)');

# --- 1. a FIFO under store1's name, responders down
my $h = OCSPTest::Httpd->new(name => 't33-fifo',
    vhosts => [ { name => 'store2', conf => $on->($dead, 'good') },
                { name => 'store1', conf => $on->($dead, 'good') } ]);
my $dir = $h->root . "/ocsp-store";
mkdir $dir, 0700;
write_store(store_file($dir, 'store2'), $d2);
my $fifo = store_file($dir, 'store1');
ok(mkfifo($fifo, 0600), 'FIFO planted under store1\'s file name') or diag("mkfifo: $!");

# A server that never finished starting (blocked on the FIFO) wrote no pid
# file: find it by its server root, so that no blocked httpd outlives the test.
sub kill_stuck {
    my $root = shift;
    opendir my $d, '/proc' or return;
    for my $pid (grep { /^\d+$/ } readdir $d) {
        my $cmd = OCSPTest::slurp("/proc/$pid/cmdline") // next;
        kill 'KILL', $pid if $cmd =~ /\0-d\0\Q$root\E\0/;
    }
}

my $t0 = time;
my $up = eval { $h->start(timeout => 20); 1 };
my $took = time - $t0;
ok($up && $took < 15, sprintf('fifo: httpd starts (%.1f s, bounded wait)', $took)) or diag($@);
kill_stuck($h->root) unless $up;
my $g2 = $h->first_handshake;
ok($g2 && defined $g2->{der} && $g2->{der} eq $d2, 'fifo: store2 is stapled from the store (responder down)');
my $g1 = $h->staple('store1');
ok($g1->{ok} && !defined $g1->{der}, 'fifo: store1 handshakes succeed without a staple');
my @l = $h->log_lines(qr/store1\.test.*ignoring its stored OCSP response: \Q$fifo\E is not a regular file \(a FIFO\)/);
ok(@l == 1 && $l[0] =~ /\[ocsp_prefetch:warn\]/, 'fifo: one warning names the file and says it is a FIFO')
    or diag($h->log_tail);
ok(-p $fifo, 'fifo: the FIFO is left alone');
ok(scalar($h->log_lines(qr/store2\.test.*stapling the OCSP response from the store/)) == 1, 'fifo: store2 ... from the store');
ok($h->stop, 'fifo: stopped');

# --- 2. the same with store1's responder up: fetched, and saved over the FIFO
$h->{vhosts}[1]{conf} = $on->($rp, 'good');
$h->write_config;
$up = eval { $h->start(timeout => 20); 1 };
kill_stuck($h->root) unless $up;
ok($up && wait_until(15, sub { defined $h->staple('store1')->{der} }, 0.2), 'fifo, responder up: store1 is stapled');
ok(wait_until(10, sub { -f $fifo && !-p $fifo && read_store($fifo) }, 0.1),
   'fifo, responder up: its response replaced the FIFO with a regular store file');
ok(defined $h->staple('store2')->{der}, 'fifo, responder up: store2 still stapled');
ok($h->stop, 'fifo, responder up: stopped');

# --- 3. an ancestor writable by everyone, not sticky
my $aroot = work_dir() . "/servers/t33-ancestor";
my $open = "$aroot/open";
my $a = OCSPTest::Httpd->new(name => 't33-ancestor',
    global => "OCSPPrefetchStore \"$open/store\"\n",
    vhosts => [ { name => 'store1', conf => $on->($rp, 'good') } ]);
File::Path::remove_tree($open);
mkdir $open;
chmod 0777, $open;
$a->start(timeout => 20);
ok(defined $a->first_handshake && wait_until(15, sub { defined $a->staple('store1')->{der} }, 0.2),
   'ancestor: the server starts and staples');
my @e = $a->log_lines(qr/OCSPPrefetchStore: refusing to use \Q$open\E\/store: \Q$open\E is writable by group or others and not sticky \(found owner uid \d+, mode 0777\); not using it/);
ok(@e == 1 && $e[0] =~ /\[ocsp_prefetch:error\]/, 'ancestor: one error names the ancestor, its owner and mode')
    or diag($a->log_tail);
ok(!-e "$open/store", 'ancestor: nothing is created there');
ok($a->stop, 'ancestor: stopped');
File::Path::remove_tree($open);

unlike(join('', map { OCSPTest::slurp($_->error_log) // '' } $h, $a),
       qr/exit signal|Segmentation|AH00052/, 'no crash');
