use FindBin; exec "$FindBin::Bin/test_url" or die "cannot run $FindBin::Bin/test_url: $!";
