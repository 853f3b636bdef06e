# Every C file of the tree is formatted as .clang-format says
# (scripts/format-check.sh; enforced with the clang-format version the
# tree is formatted with, skipped with another one or without it).
use strict;
use warnings;
use FindBin;
my $top = "$FindBin::Bin/../..";
my $out = `sh '$top/scripts/format-check.sh' 2>&1`;
my $rc = $? >> 8;
print "1..1\n";
print map { "# $_\n" } split /\n/, $out;
if ($out =~ /^(format-check: .*skipped)/m) {
    print "ok 1 # skip $1\n";
} else {
    print $rc == 0 ? "ok 1 - C formatting (.clang-format)\n"
                   : "not ok 1 - C formatting (.clang-format)\n";
}
