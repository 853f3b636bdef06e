use FindBin; exec "$FindBin::Bin/test_store" or die "cannot run $FindBin::Bin/test_store: $!";
