package OCSPTest::Responder;
# Start/stop the fault-injecting OCSP responder (t/bin/ocsp-responder.pl).
use strict;
use warnings;
use POSIX qw(setsid :sys_wait_h);
use IO::Socket::INET;
use Time::HiRes qw(time sleep);
use OCSPTest qw(t_dir pki_dir work_dir wait_until);

# OCSPTest::Responder->start(port => P [, log => F, lifetime => S, pki => D])
sub start {
    my ($class, %a) = @_;
    my $self = bless {
        port     => $a{port} || die("port required"),
        log      => $a{log} || work_dir() . "/responder-$a{port}.log",
        lifetime => $a{lifetime} || 600,
        pki      => $a{pki} || pki_dir(),
    }, $class;
    my $script = t_dir() . "/bin/ocsp-responder.pl";
    my $tmp = work_dir() . "/responder-tmp";
    mkdir $tmp unless -d $tmp;
    my $pid = fork;
    die "fork: $!" unless defined $pid;
    if ($pid == 0) {
        setsid();
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', "$self->{log}.out";
        open STDERR, '>&', \*STDOUT;
        exec $^X, $script, '--port', $self->{port}, '--pki', $self->{pki},
            '--log', $self->{log}, '--lifetime', $self->{lifetime}, '--tmp', $tmp;
        exit 127;
    }
    $self->{pid} = $pid;
    $self->{owner} = $$;
    my $up = wait_until(10, sub {
        return -1 if waitpid($pid, WNOHANG) == $pid;   # died (port busy?)
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $self->{port},
                                      Proto => 'tcp', Timeout => 1);
        return 0 unless $s;
        close $s; 1;
    });
    die "OCSP responder did not come up on 127.0.0.1:$self->{port}\n"
        unless $up && $up > 0;
    return $self;
}

sub port { $_[0]{port} }
sub log  { $_[0]{log} }
sub pid  { $_[0]{pid} }
sub url  { my ($s, $mode) = @_; "http://127.0.0.1:$s->{port}/" . ($mode || 'good') . "/" }

sub stop {
    my $self = shift;
    return unless ($self->{owner} // 0) == $$;   # never from a forked child
    my $pid = delete $self->{pid} or return;
    kill 'TERM', $pid;
    my $gone = wait_until(5, sub { waitpid($pid, WNOHANG) == $pid || !kill(0, $pid) });
    unless ($gone) { kill 'KILL', $pid; waitpid($pid, 0) }
}

sub DESTROY { local $?; my $s = shift; $s->stop if $s->{pid} && $s->{owner} == $$ }

1;
