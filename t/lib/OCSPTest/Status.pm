package OCSPTest::Status;
# Helpers for the observability tests (t/status/): a plain-http loopback
# vhost serving the ocsp-prefetch-status handler (and mod_status), HTTP GETs
# to it, the JSON document, a strict Prometheus text-format parser and the
# notify command's output file.
#
#   my $sport = free_port();
#   OCSPTest::Httpd->new(..., preload => status_preload(),
#                        global => status_vhost($sport) . ...);
#   my $j = status_json($sport);           # decoded ?json (dies when invalid)
#   my $p = parse_prometheus($text);       # { samples, types, errors }
use strict;
use warnings;
use HTTP::Tiny;
use JSON::PP ();
use Time::Local qw(timegm);
use Time::HiRes qw(time sleep);
use OCSPTest qw(slurp);
use Exporter 'import';
our @EXPORT_OK = qw(status_vhost status_preload http_get status_json
                    rfc3339 parse_prometheus prom_value prom_samples
                    html_escape read_events write_notify_script);

my $MODDIR = $ENV{OCSPT_MODDIR} || '/usr/lib/apache2/modules';

# LoadModule lines for mod_status (goes into OCSPTest::Httpd's preload)
sub status_preload {
    return "<IfModule !status_module>\n  LoadModule status_module $MODDIR/mod_status.so\n</IfModule>\n";
}

# A plain-http vhost on 127.0.0.1:PORT: /ocsp-status is the module's handler,
# /server-status mod_status's (only when mod_status is loaded).
sub status_vhost {
    my ($port) = @_;
    return <<"EOC";
Listen 127.0.0.1:$port
<VirtualHost 127.0.0.1:$port>
    ServerName status.local
    <Location "/ocsp-status">
        SetHandler ocsp-prefetch-status
    </Location>
    <IfModule status_module>
        <Location "/server-status">
            SetHandler server-status
        </Location>
    </IfModule>
</VirtualHost>
EOC
}

# GET http://127.0.0.1:PORT/PATH: HTTP::Tiny's response hash
sub http_get {
    my ($port, $path, %a) = @_;
    my $ua = HTTP::Tiny->new(timeout => $a{timeout} || 10, keep_alive => 0);
    my $method = $a{method} || 'GET';
    return $ua->request($method, "http://127.0.0.1:$port$path",
                        $a{headers} ? { headers => $a{headers} } : ());
}

# ?json decoded; dies unless 200 application/json and strictly valid UTF-8
# JSON.  In list context also the HTTP response.
sub status_json {
    my ($port, $path) = @_;
    $path ||= '/ocsp-status?json';
    my $r = http_get($port, $path);
    die "GET $path: $r->{status} $r->{reason}\n$r->{content}\n" unless $r->{status} == 200;
    my $j = JSON::PP->new->utf8->decode($r->{content});
    return wantarray ? ($j, $r) : $j;
}

# "2024-05-01T12:00:00Z" -> epoch; undef for undef; dies on another format
sub rfc3339 {
    my $s = shift;
    return undef unless defined $s;
    my ($y, $m, $d, $H, $M, $S) = $s =~ /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)Z$/
        or die "not an RFC 3339 UTC time with second precision: '$s'\n";
    return timegm($S, $M, $H, $d, $m - 1, $y);
}

# HTML-escape like any correct renderer must at least: & < > "
sub html_escape {
    my $s = shift;
    $s =~ s/&/&amp;/g; $s =~ s/</&lt;/g; $s =~ s/>/&gt;/g;
    return $s;
}

# Strict parser of the Prometheus text exposition format 0.0.4.
# Returns { samples => [ { name, labels => {..}, value, line } ],
#           types => { family => type }, help => { family => text },
#           errors => [ messages ] }.
# Checked: every sample line is  name{l="v",...} value  (value a float,
# +Inf, -Inf or NaN, no timestamp expected but allowed), label values use only
# the \\ \" \n escapes, # TYPE of a family comes before its first sample and
# at most once, a family's samples are one contiguous group, histogram
# families only have _bucket/_sum/_count samples, the text ends with "\n".
sub parse_prometheus {
    my ($text) = @_;
    my (%types, %help, @samples, @errors, %seen_family, $last_family);
    push @errors, 'empty body' unless length $text;
    push @errors, 'does not end with a newline' if length $text && $text !~ /\n\z/;
    my $n = 0;
    my $name_re = qr/[a-zA-Z_:][a-zA-Z0-9_:]*/;
    my $family_of = sub {
        my $name = shift;
        for my $suf (qw(_bucket _sum _count)) {
            next unless $name =~ /^(.*)\Q$suf\E$/;
            my $base = $1;
            return $base if ($types{$base} // '') =~ /^(?:histogram|summary)$/;
        }
        return $name;
    };
    for my $line (split /\n/, $text) {
        $n++;
        if ($line =~ /^#/) {
            if ($line =~ /^# TYPE ($name_re) (counter|gauge|histogram|summary|untyped)$/) {
                push @errors, "line $n: second # TYPE for $1" if exists $types{$1};
                push @errors, "line $n: # TYPE for $1 after its samples" if $seen_family{$1};
                $types{$1} = $2;
            }
            elsif ($line =~ /^# HELP ($name_re) (.*)$/) {
                push @errors, "line $n: second # HELP for $1" if exists $help{$1};
                $help{$1} = $2;
            }
            elsif ($line =~ /^# (?:TYPE|HELP)\b/) {
                push @errors, "line $n: malformed: $line";
            }
            next;
        }
        if ($line eq '') { push @errors, "line $n: empty line"; next }
        my ($name, $lbl, $value, $ts) = $line =~
            /^($name_re)(?:\{(.*)\})? ([-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?|[-+]Inf|NaN)(?: (-?\d+))?$/;
        unless (defined $name) { push @errors, "line $n: not a sample: $line"; next }
        my %labels;
        if (defined $lbl && length $lbl) {
            my $rest = $lbl;
            while (length $rest) {
                unless ($rest =~ s/^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)//) {
                    push @errors, "line $n: bad labels {$lbl}";
                    last;
                }
                my ($k, $v, $sep) = ($1, $2, $3);
                push @errors, "line $n: duplicate label $k" if exists $labels{$k};
                $v =~ s/\\(["\\n])/$1 eq 'n' ? "\n" : $1/ge;
                $labels{$k} = $v;
                push @errors, "line $n: trailing comma in {$lbl}" if $sep eq ',' && !length $rest;
            }
        }
        my $fam = $family_of->($name);
        push @errors, "line $n: sample of $fam before its # TYPE" unless exists $types{$fam};
        if (($types{$fam} // '') eq 'histogram' && $name eq $fam) {
            push @errors, "line $n: histogram $fam has a plain sample";
        }
        if (!defined $last_family || $last_family ne $fam) {
            push @errors, "line $n: samples of $fam are not one group" if $seen_family{$fam};
            $seen_family{$fam} = 1;
            $last_family = $fam;
        }
        my $v = $value eq '+Inf' ? 9**9**9 : $value eq '-Inf' ? -9**9**9 : $value eq 'NaN' ? 'NaN' : $value + 0;
        push @samples, { name => $name, labels => \%labels, value => $v, raw => $value, line => $line };
    }
    return { samples => \@samples, types => \%types, help => \%help, errors => \@errors };
}

# samples of NAME whose labels include all of %match
sub prom_samples {
    my ($p, $name, %match) = @_;
    return grep {
        my $s = $_;
        $s->{name} eq $name && !grep { !defined $s->{labels}{$_} || $s->{labels}{$_} ne $match{$_} } keys %match
    } @{ $p->{samples} };
}

# the value of the single sample of NAME with labels %match (undef if none;
# dies when there are several)
sub prom_value {
    my @s = prom_samples(@_);
    die "several samples of $_[1]\n" if @s > 1;
    return @s ? $s[0]{value} : undef;
}

# The notify script: a Perl program that appends one line per run to OUT:
#   EPOCH(with fraction) \t PID \t ARG1 \t ARG2 ...
# then (mode) exits 0, exits 1 ('fail'), or sleeps 600 s ('hang').
sub write_notify_script {
    my ($path, $out, $mode) = @_;
    $mode ||= 'ok';
    open my $fh, '>', $path or die "$path: $!";
    print $fh <<"EOS";
#!$^X
use strict; use Fcntl qw(:flock); use Time::HiRes qw(time);
open my \$fh, '>>', '$out' or die;
flock \$fh, LOCK_EX;
print \$fh join("\\t", sprintf('%.3f', time), \$\$, \@ARGV), "\\n";
close \$fh;
EOS
    print $fh "exit 1;\n" if $mode eq 'fail';
    print $fh "exec 'sleep', '600';\n" if $mode eq 'hang';
    print $fh "exit 0;\n";
    close $fh;
    chmod 0755, $path;
}

# Lines of the notify output: [ { time, pid, args => [...] } ]
sub read_events {
    my ($out) = @_;
    my @e;
    for my $l (split /\n/, slurp($out) // '') {
        my ($t, $pid, @args) = split /\t/, $l, -1;
        push @e, { time => $t, pid => $pid, args => \@args, line => $l };
    }
    return @e;
}

1;
