use FindBin; exec "$FindBin::Bin/test_engine_peek" or die "cannot run $FindBin::Bin/test_engine_peek: $!";
