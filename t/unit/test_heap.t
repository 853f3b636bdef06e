use FindBin; exec "$FindBin::Bin/test_heap" or die "cannot run $FindBin::Bin/test_heap: $!";
