module lunaticbench

go 1.19
