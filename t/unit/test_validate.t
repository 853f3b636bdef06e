use FindBin; exec "$FindBin::Bin/test_validate" or die "cannot run $FindBin::Bin/test_validate: $!";
