# The parent's objects do not call the parsing code (scripts/check-split.sh).
use strict;
use warnings;
use FindBin;
my $top = "$FindBin::Bin/../..";
my $out = `sh '$top/scripts/check-split.sh' '$top' 2>&1`;
my $rc = $? >> 8;
print "1..1\n";
print map { "# $_\n" } split /\n/, $out;
print $rc == 0 ? "ok 1 - privsep split (nm)\n" : "not ok 1 - privsep split (nm)\n";
