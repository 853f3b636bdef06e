use FindBin; exec "$FindBin::Bin/test_schedule" or die "cannot run $FindBin::Bin/test_schedule: $!";
