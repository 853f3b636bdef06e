use FindBin; exec "$FindBin::Bin/test_engine_limits" or die "cannot run $FindBin::Bin/test_engine_limits: $!";
