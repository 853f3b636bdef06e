use FindBin; exec "$FindBin::Bin/test_request" or die "cannot run $FindBin::Bin/test_request: $!";
