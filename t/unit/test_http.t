use FindBin; exec "$FindBin::Bin/test_http" or die "cannot run $FindBin::Bin/test_http: $!";
