use FindBin; exec "$FindBin::Bin/test_resolver" or die "cannot run $FindBin::Bin/test_resolver: $!";
