module github.com/flatfast/flatfast/_gen

go 1.26
