use FindBin; exec "$FindBin::Bin/test_failure" or die "cannot run $FindBin::Bin/test_failure: $!";
