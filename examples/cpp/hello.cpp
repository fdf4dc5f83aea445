// The smallest typed program: a root process spawns a child, sends it a
// greeting inside a struct, and the child answers the handle it was given.
#include <lunatic/lunatic.hpp>

#include <iostream>
#include <string>

struct Greeting {
    std::string text;
    lunatic::Process<std::string> reply_to;
};
LUNATIC_FIELDS(Greeting, text, reply_to)

int main() {
    return lunatic::main([](lunatic::Mailbox<std::string> mailbox) {
        auto child = lunatic::spawn(std::string("child"),
                                    [](std::string name, lunatic::Mailbox<Greeting> inbox) {
                                        Greeting greeting = inbox.receive();
                                        greeting.reply_to.send(name + " heard: " + greeting.text);
                                    });
        child.send(Greeting{"hello from the root process", mailbox.this_process()});
        std::cout << mailbox.receive() << "\n";
        return 0;
    });
}
