use FindBin; exec "$FindBin::Bin/test_directives" or die "cannot run $FindBin::Bin/test_directives: $!";
