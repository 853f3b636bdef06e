use FindBin; exec "$FindBin::Bin/test_limits" or die "cannot run $FindBin::Bin/test_limits: $!";
