# Every configuration example of the module (README.md, docs/*.md, the
# shipped conf/*.conf) keeps its directives inside
# <IfModule ocsp_prefetch_module>: copied as shown, a configuration still
# passes `apache2 -t` after `a2dismod ocsp_prefetch` or the package's
# removal (an unknown directive is a syntax error that also stops
# `service apache2 stop` and every later restart).
# Checked: in fenced code blocks of the Markdown files (any language but
# sh/console/text and friends) and in the .conf files, every line whose
# first word is an OCSPPrefetch* directive, `SetHandler
# ocsp-prefetch-status` or a `Mutex` for ocsp-prefetch-cache, commented out
# or not, is nested (at any depth) in an <IfModule ocsp_prefetch_module>
# or <IfModule mod_ocsp_prefetch.c> section of the same block or file.
# A pure-Perl test: it needs no server.
use strict;
use warnings;
use FindBin;
use Test::More;

my $top = "$FindBin::Bin/../..";
my @md = grep { -f } ("$top/README.md", "$top/SECURITY.md", glob("$top/docs/*.md"));
my @conf = grep { -f } glob("$top/conf/*.conf");
my $DIRECTIVE = qr/^\s*#?\s*(?:OCSPPrefetch\w*(?=\s|$)|SetHandler\s+"?ocsp-prefetch-status|Mutex\s+\S+\s+(?:\S+\s+)*ocsp-prefetch-cache\b)/i;
my $SKIP_LANG = qr/^(?:sh|bash|console|shell|text|txt|json|perl|c|diff|none|output|prometheus)$/i;

# Lines (with their numbers) not inside our IfModule.
sub outside {
    my ($lines) = @_;    # [ [lineno, text], ... ]
    my (@stack, @bad);
    for my $l (@$lines) {
        my ($n, $t) = @$l;
        my $s = $t;
        $s =~ s/^\s*#\s*(?=<)//;    # a commented section tag counts as one
        if ($s =~ /^\s*<IfModule\s+"?(!?)([^>"\s]+)"?\s*>/i) {
            push @stack, (!$1 && $2 =~ /^(?:ocsp_prefetch_module|mod_ocsp_prefetch\.c)$/) ? 1 : 0;
            next;
        }
        if ($s =~ /^\s*<\/IfModule\s*>/i) { pop @stack; next; }
        push @bad, $n if $t =~ $DIRECTIVE && !grep { $_ } @stack;
    }
    return @bad;
}

my $examples = 0;
for my $f (@md) {
    open my $fh, '<', $f or die "$f: $!";
    my @all = <$fh>;
    close $fh;
    my ($in, $lang, @block, @bad) = (0, '');
    for my $i (0 .. $#all) {
        my $t = $all[$i];
        if ($t =~ /^\s*```\s*(\S*)/) {
            if (!$in) { ($in, $lang, @block) = (1, $1); next; }
            $in = 0;
            next if $lang =~ $SKIP_LANG;
            next unless grep { $_->[1] =~ $DIRECTIVE } @block;
            $examples++;
            push @bad, outside(\@block);
            next;
        }
        push @block, [ $i + 1, $t ] if $in;
    }
    (my $rel = $f) =~ s{^\Q$top\E/}{};
    ok(!@bad, "$rel: every example directive inside <IfModule ocsp_prefetch_module>")
        or diag("$rel: outside at line(s) @bad");
}
for my $f (@conf) {
    open my $fh, '<', $f or die "$f: $!";
    my $n = 0;
    my @lines = map { [ ++$n, $_ ] } <$fh>;
    close $fh;
    my @bad = outside(\@lines);
    $examples++ if grep { $_->[1] =~ $DIRECTIVE } @lines;
    (my $rel = $f) =~ s{^\Q$top\E/}{};
    ok(!@bad, "$rel: every directive (commented or not) inside <IfModule ocsp_prefetch_module>")
        or diag("$rel: outside at line(s) @bad");
}
ok($examples >= 20, "found the examples ($examples blocks or files with module directives)");
done_testing();
