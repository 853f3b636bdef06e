use FindBin; exec "$FindBin::Bin/test_cert" or die "cannot run $FindBin::Bin/test_cert: $!";
